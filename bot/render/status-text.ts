/**
 * The pipeline status as plain text for the CLI (`npm run lf -- status`): cli-table3 tables without colours, so
 * the output reads the same in a terminal, a pipe or a log file.
 */
import Table from 'cli-table3';
import type { PipelineStatus } from '../../domain/status.js';
import { formatCounts, formatDuration, formatUtc } from '../blocks/status.js';

const plain = { head: [] as string[], border: [] as string[] };
// no line between rows in the status-count tables: they stay as tall as their data
const compact = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

function countsTable(title: string, counts: Record<string, number>, total: number): string {
  const table = new Table({ head: [title, 'count'], style: plain, chars: compact, colAligns: ['left', 'right'] });
  for (const [status, n] of Object.entries(counts)) table.push([status, String(n)]);
  table.push(['total', String(total)]);
  return table.toString();
}

/**
 * Renders {@link PipelineStatus} as text: a header line, a runs table (id, status, trigger, started, duration,
 * per-stage counts, error), and tables of businesses and emails by status. Ends with a newline.
 */
export function renderStatusText(status: PipelineStatus): string {
  const out: string[] = [];
  out.push(`LeadFactory pipeline status — generated ${formatUtc(status.generatedAt)}, ${status.activeTargets} active targets`);
  if (status.deploy) out.push(`version ${status.deploy.version}${status.deploy.gitSha ? ` (${status.deploy.gitSha})` : ''} on ${status.deploy.host} since ${formatUtc(status.deploy.startedAt)} — /lf changes`);
  out.push('');
  if (status.runs.length === 0) {
    out.push('Last runs: none recorded yet.');
  } else {
    const runs = new Table({
      head: ['run', 'status', 'trigger', 'started', 'duration', 'counts', 'error'],
      style: plain,
      colWidths: [null, null, null, null, null, 40, 40],
      wordWrap: true,
    });
    for (const run of status.runs) {
      runs.push([
        `#${run.id}`,
        run.status,
        run.trigger,
        formatUtc(run.startedAt),
        run.durationMs !== null ? formatDuration(run.durationMs) : run.status === 'running' ? 'running' : '-',
        formatCounts(run.counts),
        run.error ? run.error.slice(0, 300) : '',
      ]);
    }
    out.push('Last runs:');
    out.push(runs.toString());
  }
  out.push('');
  out.push(countsTable('business status', status.businessesByStatus, status.businessesTotal));
  out.push('');
  out.push(countsTable('email status', status.emailsByStatus, status.emailsTotal));
  return `${out.join('\n')}\n`;
}
