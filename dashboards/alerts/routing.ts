/**
 * Where Grafana sends what the alert rules fire: one contact point and the notification
 * policy tree, provisioned from alerting/cx-notifications.json beside the rules.
 *
 * - The contact point is a webhook by default, or Slack (`npx cx dashboards build
 *   --contact-point slack`). Its URL is not in the file: Grafana reads it from its own
 *   environment when it provisions (`$NAME` is expanded in provisioning values), so a
 *   secret URL never reaches the repository. docker-compose gives the webhook's a default.
 * - The policy sends every alert of the cx rules (label service=cx) to it, one
 *   notification per alert name and subject (channel, touchpoint, leg), repeated while
 *   it fires: hourly when critical (on-call), every 4 hours when a warning. Anything
 *   else in this Grafana falls to the root, which has the same contact point: a
 *   provisioned tree replaces the org's whole tree, so nothing would be delivered otherwise.
 */
import { ContactPointBuilder, NotificationPolicyBuilder } from '@grafana/grafana-foundation-sdk/alerting';
import { provisionedReceiver, type NotificationFile, type ProvisionedContactPoint } from './notificationFile.ts';
import { RULE_GROUP, SERVICE_LABEL } from './rules.ts';

export const CONTACT_POINTS = ['webhook', 'slack'] as const;
export type ContactPointKind = (typeof CONTACT_POINTS)[number];

export interface RoutingConfig {
  /** Default `webhook`. */
  contactPoint?: ContactPointKind;
}

/** Grafana's environment variable holding each contact point's URL. */
export const URL_VARIABLE: Record<ContactPointKind, string> = {
  webhook: 'CX_GRAFANA_ALERT_WEBHOOK_URL',
  slack: 'CX_GRAFANA_ALERT_SLACK_URL',
};

/** Contact point name (what the policy's `receiver` says) and its integration's uid. */
export const CONTACT_POINT_NAME: Record<ContactPointKind, string> = { webhook: 'cx-webhook', slack: 'cx-slack' };

/** Labels one notification is about: the rule (alertname) and the subject its query labels name. */
export const GROUP_BY = ['alertname', 'channel', 'touchpoint', 'leg'];

/**
 * - group_wait: how long a new group waits for more alerts before its first notification
 *   (the touchpoints of one outage fire within a minute of each other).
 * - group_interval: a group that changed (a new alert, one resolved) is notified again
 *   at most this often.
 * - repeat_interval: an unchanged group still firing is notified again after this.
 */
export const TIMING = { groupWait: '30s', groupInterval: '5m', repeatInterval: '4h', criticalRepeatInterval: '1h' } as const;

function contactPoint(kind: ContactPointKind): ProvisionedContactPoint {
  const name = CONTACT_POINT_NAME[kind];
  const url = `$${URL_VARIABLE[kind]}`;
  const integration = new ContactPointBuilder().uid(name).name(name).disableResolveMessage(false);
  // Slack: an incoming-webhook URL (https://hooks.slack.com/services/...), Grafana's own message.
  // Webhook: Grafana's JSON body (its Alertmanager-style webhook payload), POSTed.
  if (kind === 'slack') integration.type('slack').settings({ url });
  else integration.type('webhook').settings({ url, httpMethod: 'POST' });
  return { orgId: RULE_GROUP.orgId, name, receivers: [provisionedReceiver(integration.build())] };
}

export function notificationFile(config: RoutingConfig = {}): NotificationFile {
  const kind = config.contactPoint ?? 'webhook';
  if (!CONTACT_POINTS.includes(kind)) throw new Error(`contact point must be one of ${CONTACT_POINTS.join(', ')}, got ${JSON.stringify(kind)}`);
  const receiver = CONTACT_POINT_NAME[kind];
  const critical = new NotificationPolicyBuilder()
    .objectMatchers([['severity', '=', 'critical']])
    .repeatInterval(TIMING.criticalRepeatInterval);
  const cx = new NotificationPolicyBuilder()
    .receiver(receiver)
    .objectMatchers([[SERVICE_LABEL.name, '=', SERVICE_LABEL.value]])
    .groupBy(GROUP_BY)
    .groupWait(TIMING.groupWait)
    .groupInterval(TIMING.groupInterval)
    .repeatInterval(TIMING.repeatInterval)
    .routes([critical]);
  const root = new NotificationPolicyBuilder()
    .receiver(receiver)
    .groupBy(['grafana_folder', 'alertname'])
    .groupWait(TIMING.groupWait)
    .groupInterval(TIMING.groupInterval)
    .repeatInterval(TIMING.repeatInterval)
    .routes([cx]);
  return {
    apiVersion: 1,
    contactPoints: [contactPoint(kind)],
    policies: [{ orgId: RULE_GROUP.orgId, ...root.build() }],
  };
}
