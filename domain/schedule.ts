/** Cron schedule arithmetic (cron-parser, UTC): the next and the previous fire time of a job's schedule. */
import { CronExpressionParser } from 'cron-parser';

/** Next fire time of `cron` (5 or 6 fields, UTC) after `from`; undefined for an invalid expression. */
export function nextCronRun(cron: string, from: Date): Date | undefined {
  try {
    return CronExpressionParser.parse(cron, { currentDate: from, tz: 'UTC' }).next().toDate();
  } catch {
    return undefined;
  }
}

/** Most recent fire time of `cron` at or before `now` (UTC); undefined for an invalid expression. */
export function prevCronRun(cron: string, now: Date): Date | undefined {
  try {
    return CronExpressionParser.parse(cron, { currentDate: new Date(now.getTime() + 1), tz: 'UTC' }).prev().toDate();
  } catch {
    return undefined;
  }
}
