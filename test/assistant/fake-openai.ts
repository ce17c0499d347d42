/** A scripted OpenAI-compatible chat-completions server for the assistant's loop tests: records every request. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One scripted reply: tool calls (name + args) or a final content; `usage` overrides the token counts. */
export interface ScriptedReply {
  calls?: { name: string; args?: Record<string, unknown>; id?: string }[];
  content?: string;
  usage?: { prompt_tokens: number; completion_tokens: number };
  /** Wait this long before answering (ms). */
  delayMs?: number;
  /** The model declines: `message.refusal` carries this text, `content` is null (OpenAI's refusal shape). */
  refusal?: string;
  /** `finish_reason` instead of the default (`tool_calls` / `stop`), e.g. `length` for a cut-off answer. */
  finish?: string;
  /** Answer with this HTTP status and an OpenAI error body instead (e.g. 500). */
  status?: number;
}

/** A running fake. `baseUrl` ends in `/v1`. */
export interface FakeOpenAI {
  baseUrl: string;
  requests: Record<string, unknown>[];
  close(): Promise<void>;
}

/** Starts the fake; `script(n, body)` gives the reply to the n-th request (0-based). */
export async function startFakeOpenAI(script: (n: number, body: Record<string, unknown>) => ScriptedReply): Promise<FakeOpenAI> {
  const requests: Record<string, unknown>[] = [];
  let seq = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      const n = requests.length;
      requests.push(body);
      const reply = script(n, body);
      const send = () => {
        if (reply.status) {
          res.writeHead(reply.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: 'scripted failure', type: 'server_error', code: null } }));
          return;
        }
        if (reply.refusal !== undefined) {
          const usage = reply.usage ?? { prompt_tokens: 100, completion_tokens: 20 };
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              id: `chatcmpl-${n}`,
              object: 'chat.completion',
              created: 1,
              model: String(body.model),
              choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: reply.refusal }, finish_reason: reply.finish ?? 'stop' }],
              usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
            }),
          );
          return;
        }
        const message = reply.calls
          ? {
              role: 'assistant',
              content: null,
              tool_calls: reply.calls.map((c) => ({ id: c.id ?? `call_${++seq}`, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.args ?? {}) } })),
            }
          : { role: 'assistant', content: reply.content ?? '' };
        const usage = reply.usage ?? { prompt_tokens: 100, completion_tokens: 20 };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: `chatcmpl-${n}`,
            object: 'chat.completion',
            created: 1,
            model: String(body.model),
            choices: [{ index: 0, message, finish_reason: reply.finish ?? (reply.calls ? 'tool_calls' : 'stop') }],
            usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
          }),
        );
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The tool messages of a recorded request, in order. */
export function toolMessages(body: Record<string, unknown>): { tool_call_id: string; content: string }[] {
  return (body.messages as { role: string; tool_call_id: string; content: string }[]).filter((m) => m.role === 'tool');
}
