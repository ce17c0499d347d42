/**
 * OpenAI chat-completions adapter over the official SDK (`POST {baseUrl}/chat/completions`, baseUrl ending in
 * `/v1`). The SDK's own retries are off (`maxRetries: 0`); the gateway owns retries.
 */
import OpenAI from 'openai';
import { ProviderError } from '../../errors.js';
import { answerError, isRecord, networkError, parseJsonBody, retryAfterFrom, shapeError, str, type CallSite } from '../http-errors.js';
import type { ChatRequest, ChatResult, OpenAIPort } from './port.js';

/** Options for {@link createOpenAIClient}. `baseUrl` includes `/v1` (e.g. `https://api.openai.com/v1`). */
export interface OpenAIClientOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  /** Chat model id sent as `model`, e.g. `gpt-4o-mini`. */
  model: string;
}

const SITE: CallSite = { provider: 'openai', operation: 'chat.completions' };

/**
 * Any error from the SDK → ProviderError. `APIError` with a status: `providerCode` = body `error.code` ??
 * `error.type` (e.g. rate_limit_exceeded — retryable; insufficient_quota — not retryable although a 429).
 * `retryAfterMs` from the SDK error's response headers (`retry-after`, else `retry-after-ms`). Connection errors
 * and timeouts: status undefined, retryable. ProviderErrors pass through unchanged.
 */
export function openaiError(err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  if (err instanceof OpenAI.APIConnectionError) {
    const e = err instanceof OpenAI.APIConnectionTimeoutError ? Object.assign(new Error(err.message), { code: 'ETIMEDOUT' }) : err;
    return networkError(SITE, e);
  }
  if (err instanceof OpenAI.APIError && typeof err.status === 'number') {
    const body = isRecord(err.error) ? err.error : undefined;
    const code = str(body?.code) ?? str(body?.type);
    const headers = err.headers;
    const retryAfterMs = headers ? retryAfterFrom((name) => headers.get(name)) : undefined;
    return answerError(SITE, err.status, code, str(body?.message) ?? err.message, { cause: err, retryAfterMs });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ProviderError({ ...SITE, message, retryable: false, cause: err });
}

/**
 * Maps a `chat.completion` body: text `choices[0].message.content` ('' when null), `model`, finishReason
 * `choices[0].finish_reason`, usage `usage.prompt_tokens/completion_tokens/total_tokens` (0 when absent).
 */
export function mapChatCompletion(body: unknown, status = 200): ChatResult {
  if (!isRecord(body) || !Array.isArray(body.choices) || !isRecord(body.choices[0])) throw shapeError(SITE, status, 'no choices[0]');
  const choice = body.choices[0];
  const message = isRecord(choice.message) ? choice.message : {};
  const usage = isRecord(body.usage) ? body.usage : {};
  const n = (v: unknown) => (typeof v === 'number' ? v : 0);
  return {
    text: typeof message.content === 'string' ? message.content : '',
    model: typeof body.model === 'string' ? body.model : '',
    finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : '',
    usage: { promptTokens: n(usage.prompt_tokens), completionTokens: n(usage.completion_tokens), totalTokens: n(usage.total_tokens) },
  };
}

/**
 * Creates the OpenAI adapter. `chat` sends `[system, user]` messages, `max_tokens` when given and
 * `response_format: {type: 'json_object'}` when `json` is set (the prompt must then mention JSON, as OpenAI
 * requires). The body is read raw and parsed here, so a malformed 2xx/5xx body is a ProviderError with its status.
 * Errors: ProviderError (provider 'openai', operation 'chat.completions').
 */
export function createOpenAIClient(opts: OpenAIClientOptions): OpenAIPort {
  const client = new OpenAI({ apiKey: opts.apiKey, baseURL: opts.baseUrl, maxRetries: 0, timeout: opts.timeoutMs });
  return {
    async chat(req: ChatRequest): Promise<ChatResult> {
      try {
        const response = await client.chat.completions
          .create({
            model: opts.model,
            messages: [
              { role: 'system', content: req.system },
              { role: 'user', content: req.user },
            ],
            ...(req.maxTokens !== undefined ? { max_tokens: req.maxTokens } : {}),
            ...(req.json ? { response_format: { type: 'json_object' as const } } : {}),
          })
          .asResponse();
        let text: string;
        try {
          text = await response.text();
        } catch (err) {
          throw networkError(SITE, err);
        }
        const body = parseJsonBody(SITE, response.status, text);
        return mapChatCompletion(body, response.status);
      } catch (err) {
        throw openaiError(err);
      }
    },
  };
}

