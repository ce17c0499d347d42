/** A runbook context over test services: job control without a scheduler (in-process runs), real probes unless given. */
import type { JobControl, ProcessProbes, RunbookContext } from '../../runbooks/context.js';
import { processProbes } from '../../runbooks/probes.js';
import type { Services } from '../../domain/services.js';
import { createJobControl } from '../../jobs/control.js';

/** Builds a {@link RunbookContext}; `probes` entries replace the real ones (e.g. a high RSS). */
export function runbookContext(s: Services, opts: { jobs?: JobControl; probes?: Partial<ProcessProbes> } = {}): RunbookContext {
  const env: Record<string, string> = { DATABASE_URL: s.db.url, LOG_LEVEL: 'silent', JOBS_IN_PROCESS: 'true' };
  if (s.sandboxUrl) env.SANDBOX_URL = s.sandboxUrl;
  return {
    services: s,
    em: () => s.orm.em.fork(),
    jobs: opts.jobs ?? createJobControl({ orm: s.orm, config: s.config, clock: s.clock, jobEnv: env }),
    probes: { ...processProbes(), ...opts.probes },
  };
}
