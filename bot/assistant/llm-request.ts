/**
 * One model request of the assistant's LLM loop, through the provider gateway (domain/gateway/gateway.ts) like
 * every other OpenAI call: the daily/monthly budget is checked first, the shared OpenAI circuit breaker and the
 * request and token-per-minute limits apply, retries happen there only, and each request leaves an `api_calls`
 * ledger row with its cost from the returned `usage` (operation `assistant.chat`). Never cached: a conversation is
 * never repeated. SDK errors become `ProviderError`s (domain/providers/openai/http.ts `openaiError`), so the breaker
 * and the ledger classify them like the pipeline's own OpenAI calls.
 */
import OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import type { Gateway } from '../../domain/gateway/gateway.js';
import { openaiError } from '../../domain/providers/openai/http.js';

/** The gateway operation name of assistant requests (ledger `api_calls.operation`). */
export const ASSISTANT_OPERATION = 'assistant.chat';

/** An OpenAI client for the assistant (SDK retries off: the gateway owns retries). */
export function modelClient(endpoint: { apiKey: string; baseUrl: string }, timeoutMs: number): OpenAI {
  return new OpenAI({ apiKey: endpoint.apiKey, baseURL: endpoint.baseUrl, maxRetries: 0, timeout: timeoutMs });
}

/** Rough token estimate of a request (~4 characters a token over messages and tools, plus the completion cap). */
export function estimateRequestTokens(body: ChatCompletionCreateParamsNonStreaming): number {
  const chars = JSON.stringify(body.messages).length + JSON.stringify(body.tools ?? []).length;
  return Math.ceil(chars / 4) + (body.max_completion_tokens ?? 0);
}

/**
 * Sends one chat-completions request through `gateway`.
 * @throws what `Gateway.call` throws: BudgetExceededError, CircuitOpenError, RateLimitedError, DeadlineExceededError,
 * or the ProviderError of the last attempt (an abort through `signal` included).
 */
export function requestCompletion(gateway: Gateway, client: OpenAI, body: ChatCompletionCreateParamsNonStreaming, signal: AbortSignal): Promise<ChatCompletion> {
  return gateway.call<ChatCompletion>({
    provider: 'openai',
    operation: ASSISTANT_OPERATION,
    kind: 'read',
    estimatedTokens: estimateRequestTokens(body),
    usage: (c) => ({ promptTokens: c.usage?.prompt_tokens ?? 0, completionTokens: c.usage?.completion_tokens ?? 0 }),
    fn: async () => {
      try {
        return await client.chat.completions.create(body, { signal });
      } catch (err) {
        throw openaiError(err);
      }
    },
  });
}
