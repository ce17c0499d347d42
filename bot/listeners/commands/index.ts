/** Registers the slash-command listeners (one handler per file). */
import type { App } from '@slack/bolt';
import { lfCommand, type LfCommandDeps } from './lf.js';

/** Registers `/lf` on `app`. */
export function registerCommands(app: App, deps: LfCommandDeps): void {
  app.command('/lf', lfCommand(deps));
}
