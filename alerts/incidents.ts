/**
 * Incidents (tables `incidents`, `incident_events`; see db/entities/alerting.entity.ts): declared from a firing
 * alert by the severity policy ({@link incidentSeverityFor}, called by alerts/dispatch.ts) or by hand
 * (`/lf incident declare`), acknowledged, resolved and escalated, with every step recorded as an incident event
 * (who did what, when) and every human action also in the audit log (runbooks/actions.ts `audit`).
 *
 * Escalation ladder (troubleshooting guide): Level 1 self-service (on-call, `contacts.level1`) → Level 2 team
 * (`contacts.level2`) → Level 3 vendor (`contacts.level2` plus the failing provider's `vendorContacts` text) →
 * Level 4 emergency (`contacts.level4`). An `open` incident whose `ack_deadline` has passed goes up one level at
 * the next {@link escalationTick} and gets a new deadline (now + the severity's {@link ACK_DEADLINE_MS}); the
 * deadline lives in the database, so a restarted process (or another replica) carries the timer on.
 *
 * Slack: the incident is one message in `config.alerting.incidentsChannel` (outbox ref `incident:<id>`) with
 * Acknowledge / Resolve / Escalate buttons (`action_id` `incident:ack|resolve|escalate`, `value` the incident id,
 * `block_id` `incident:<id>:L<level>` so a stale Escalate click is recognised); each change edits it in place
 * (outbox `update`) and adds a thread reply; a page mentions the level's users (`<@U…>`) and user groups
 * (`<!subteam^S…>`) and DMs each user. An active silence matching the incident's alert mutes its pages (mentions
 * and DMs); the incident message itself is still posted and updated.
 *
 * Layout: the rows and their SQL are domain/queries/incidents.ts; the paging policy (levels, who a level pages)
 * alerts/incident/policy.ts; the Slack rendering alerts/incident/render.ts; the pages and message updates written
 * with a change alerts/incident/notify.ts; the state machine alerts/incident/actions.ts; the escalation ticker
 * alerts/incident/ticker.ts; the timeline alerts/incident/timeline.ts. This module is their public face.
 *
 * Concurrency: every state change is one conditional `update … where <expected state> returning` in a
 * transaction together with its events and outbox entries, so a double click, two people, or two replicas
 * ticking at once change the state once; the loser gets `duplicate` (naming who acted) or nothing to do.
 */
export { getIncident, insertIncidentEvent as addEvent, listIncidents, type IncidentRow } from '../domain/queries/incidents.js';
export {
  acknowledgeIncident,
  addIncidentNote,
  declareIncident,
  escalateIncident,
  recordRefusedAction,
  resolveIncident,
  type IncidentActionOutcome,
} from './incident/actions.js';
export { incidentSeverityFor, LEVEL_NAMES } from './incident/policy.js';
export { incidentRef, who, type IncidentBody } from './incident/render.js';
export { escalationTick, type EscalationDeps, type EscalationTickResult } from './incident/ticker.js';
export { diagnosisLine, incidentTimeline, type TimelineEntry } from './incident/timeline.js';
