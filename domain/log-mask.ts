/**
 * Masks email addresses in log output: `jane.doe@example.com` → `j***@example.com`. Applied to every serialised
 * line (message, fields, error messages and stacks, the SQL a driver error quotes), because recipient addresses
 * reach logs through all of them; the domain is kept (it tells a provider's problem from a recipient's).
 */

const EMAIL = /([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})/g;

/** `text` with every email address masked. */
export function maskEmails(text: string): string {
  return text.replace(EMAIL, '$1***@$2');
}

/** One address as shown to people (Slack, public pages): `b***@example.com`, enough to recognise it; `no address` for none. */
export function maskEmail(a: string | null | undefined): string {
  if (!a) return 'no address';
  const [local, domain] = a.split('@');
  return domain ? `${(local ?? '').slice(0, 1)}***@${domain}` : '***';
}

/** A pino destination that masks each line before handing it to `dest`. */
export function maskingStream(dest: { write(chunk: string): unknown }): { write(chunk: string): boolean } {
  return {
    write(chunk: string) {
      dest.write(maskEmails(chunk));
      return true;
    },
  };
}
