/**
 * Grafana's contact-point and notification-policy provisioning file (apiVersion 1, read
 * from /etc/grafana/provisioning/alerting/ like the rule file), as types.
 *
 * Why not the SDK's types all the way: @grafana/grafana-foundation-sdk/alerting has
 * Grafana's HTTP API shapes. Its ContactPoint is one integration (Grafana's
 * EmbeddedContactPoint) carrying the contact point's name; the file groups integrations
 * under a named contact point with an orgId and calls them `receivers` (ContactPointV1,
 * ReceiverV1), and Grafana sets the provenance itself. Its NotificationPolicy is the
 * route exactly as the file holds it, with `orgId` beside it (NotificationPolicyV1). So
 * integrations are built with the SDK's ContactPointBuilder and the tree with its
 * NotificationPolicyBuilder; the contact point and the file are plain typed objects.
 */
import type { ContactPoint, NotificationPolicy } from '@grafana/grafana-foundation-sdk/alerting';

/** One integration of a contact point (Grafana's ReceiverV1). */
export type ProvisionedReceiver = Required<Pick<ContactPoint, 'uid' | 'type' | 'settings' | 'disableResolveMessage'>>;

/** A contact point (ContactPointV1): what the policy's `receiver` names. */
export interface ProvisionedContactPoint {
  orgId: number;
  name: string;
  receivers: ProvisionedReceiver[];
}

/** The org's whole notification policy tree (NotificationPolicyV1): it replaces the one Grafana has. */
export type ProvisionedPolicy = { orgId: number } & NotificationPolicy;

export interface NotificationFile {
  apiVersion: 1;
  contactPoints: ProvisionedContactPoint[];
  policies: ProvisionedPolicy[];
}

/** The file's integration, from one built with the SDK's ContactPointBuilder. */
export function provisionedReceiver(integration: ContactPoint): ProvisionedReceiver {
  const where = `contact point "${integration.name ?? '?'}" (${integration.type})`;
  if (!integration.uid) throw new Error(`${where} has no uid: Grafana's provisioning needs one to keep the integration stable`);
  if (!integration.settings || Object.keys(integration.settings as object).length === 0) {
    throw new Error(`${where} has no settings: Grafana refuses an integration without them`);
  }
  return {
    uid: integration.uid,
    type: integration.type,
    settings: integration.settings,
    disableResolveMessage: integration.disableResolveMessage ?? false,
  };
}
