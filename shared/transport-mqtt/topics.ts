// The MQTT topic layout (docs/transport.md "Topic layout"): every topic names the one vehicle it
// belongs to, so a broker's per-vehicle ACL (`pattern ... uptane/v1/vehicles/%u/#`) keeps each
// vehicle to its own topics. Requests go to a `request` topic and answers come back on the
// requester's `response` topic, matched by MQTT 5 correlation data.
import { MqttMessageError } from '../core/errors.js';

export const TOPIC_ROOT = 'uptane/v1/vehicles';

/** The share group Director replicas subscribe in, so the broker hands each request to one of them. */
export const DIRECTOR_SHARE_GROUP = 'uptane-director';

/**
 * A VIN or ECU serial as a topic level: the Director's and provisioning's rules (letters, digits,
 * '.', '_', '-'), which also keep out the MQTT wildcards '+' and '#' and the level separator '/'.
 */
const TOPIC_LEVEL = /^[A-Za-z0-9._-]{1,128}$/;

export function checkTopicLevel(value: string, what: string): string {
  if (!TOPIC_LEVEL.test(value)) throw new MqttMessageError(`${what} ${JSON.stringify(value.slice(0, 80))} cannot be an MQTT topic level (1-128 letters, digits, '.', '_' or '-')`);
  return value;
}

export const directorTopics = (vin: string) => {
  const base = `${TOPIC_ROOT}/${checkTopicLevel(vin, 'the VIN')}/director`;
  return { request: `${base}/request`, response: `${base}/response` } as const;
};

/** What the Director replicas subscribe to: every vehicle's requests, shared among the replicas. */
export const DIRECTOR_REQUEST_FILTER = `$share/${DIRECTOR_SHARE_GROUP}/${TOPIC_ROOT}/+/director/request`;

/** The VIN a Director request topic names, or undefined for any other topic. */
export function vinOfDirectorRequest(topic: string): string | undefined {
  const match = /^uptane\/v1\/vehicles\/([A-Za-z0-9._-]{1,128})\/director\/request$/.exec(topic);
  return match?.[1];
}

/** A secondary's topics: the primary publishes requests, the secondary answers. */
export const secondaryTopics = (vin: string, serial: string) => {
  const base = `${TOPIC_ROOT}/${checkTopicLevel(vin, 'the VIN')}/ecus/${checkTopicLevel(serial, 'the ECU serial')}`;
  return { request: `${base}/request`, response: `${base}/response` } as const;
};
