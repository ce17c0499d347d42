/** Port for OpenAI chat completions (`POST /v1/chat/completions`), through the openai SDK. */

/** One chat request: a system prompt, a user message and a cap on generated tokens. */
export interface ChatRequest {
  system: string;
  user: string;
  maxTokens?: number;
  /** Ask for a JSON object (`response_format: { type: 'json_object' }`). */
  json?: boolean;
}

/** The answer: `choices[0].message.content` (or '' when null), `finish_reason`, and `usage` token counts. */
export interface ChatResult {
  text: string;
  model: string;
  finishReason: string;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
}

/** OpenAI chat. Errors: ProviderError (provider 'openai', operation 'chat.completions'). */
export interface OpenAIPort {
  chat(req: ChatRequest): Promise<ChatResult>;
}
