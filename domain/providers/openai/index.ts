/** OpenAI chat completions: the port and its SDK adapter. */
export { createOpenAIClient, mapChatCompletion, type OpenAIClientOptions } from './http.js';
export type * from './port.js';
