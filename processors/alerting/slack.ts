/**
 * An alert change as a Slack incoming-webhook message (`CX_ALERT_WEBHOOK_FORMAT=slack`):
 * `text`, the fallback Slack shows in notifications and where blocks cannot be drawn,
 * and Block Kit `blocks`: a header (severity, status, subject), a section with the
 * summary and the figures as fields, and a context line with the alert id.
 *
 * Nothing here depends on the alert's kind beyond printing it: the subject is the
 * channel and touchpoint when the alert has them, else its leg, so a kind added to
 * the contract later is shown as it is. Values are shown as the event holds them
 * (rates and scores are both 0..1); the summary carries the person-friendly line.
 * Times are event time, in UTC. Slack refuses a section with empty text, so an empty
 * summary shows the subject.
 */
import type { AlertEvent } from '../../schemas/contracts.ts';

/** Slack's limits (Block Kit reference): longer text makes Slack refuse the whole message. */
const HEADER_MAX = 150;
const SECTION_TEXT_MAX = 3000;
const FIELD_MAX = 2000;
const TEXT_MAX = 3000;

interface PlainText { type: 'plain_text'; text: string }
interface Mrkdwn { type: 'mrkdwn'; text: string }

export interface SlackMessage {
  text: string;
  blocks: [
    { type: 'header'; text: PlainText },
    { type: 'section'; text: Mrkdwn; fields: Mrkdwn[] },
    { type: 'context'; elements: Mrkdwn[] },
  ];
}

/** Slack reads &, < and > as markup (links, mentions) in text; everything from the event is escaped. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** `cut` for escaped text: never ends in half an entity (`&am…`). */
function cutEscaped(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1).replace(/&[a-z]{0,3}$/, '')}…`;
}

/** `2026-11-23 10:02 UTC`. */
function utc(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** Up to 4 significant digits, without a trailing exponent for ordinary values: 0.081, 0.31, 1240. */
function figure(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(4))) : String(v);
}

/** `WEB / checkout (leg OPERATIONS)` when the alert names a touchpoint, else `leg OPERATIONS`. */
export function alertSubject(a: AlertEvent): string {
  const where = [a.channel, a.touchpoint].filter((s): s is string => !!s);
  if (where.length) return a.leg ? `${where.join(' / ')} (leg ${a.leg})` : where.join(' / ');
  return a.leg ? `leg ${a.leg}` : '(no subject)';
}

const field = (name: string, value: string): Mrkdwn => ({ type: 'mrkdwn', text: cutEscaped(`*${name}*\n${slackEscape(value)}`, FIELD_MAX) });

/** The Slack message of one alert change. Throws RangeError on a time that is not a number. */
export function slackPayload(a: AlertEvent): SlackMessage {
  const subject = alertSubject(a);
  const fields = [
    field('Severity', a.severity),
    field('Status', a.status),
    field('Kind', a.kind),
    field('Subject', subject),
    field('Started', utc(a.started_at)),
    field('Detected', utc(a.detected_at)),
    field('Current vs baseline', `${figure(a.current)} vs ${figure(a.baseline)}`),
    ...(a.resolved_at === null ? [] : [field('Resolved', utc(a.resolved_at))]),
  ];
  return {
    text: cutEscaped(slackEscape(`[${a.severity}] ${a.status} ${a.kind}: ${subject}: ${a.summary}`), TEXT_MAX),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: cut(`${a.severity} · ${a.status} · ${subject}`, HEADER_MAX) } },
      { type: 'section', text: { type: 'mrkdwn', text: cutEscaped(slackEscape(a.summary || subject), SECTION_TEXT_MAX) }, fields },
      { type: 'context', elements: [{ type: 'mrkdwn', text: slackEscape(`alert ${a.alert_id} v${a.version} · changed ${utc(a.changed_at)}`) }] },
    ],
  };
}

/** The body the webhook POSTs in the `slack` format: `slackPayload` as compact JSON. */
export function slackJson(a: AlertEvent): string {
  return JSON.stringify(slackPayload(a));
}
