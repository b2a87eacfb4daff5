/**
 * The SDK's link to the control plane as `enmesh_*` metrics, fed by the xDS
 * client's events: ACKs and NACKs by resource type, the version of each type
 * and of the assembled config in force, the state of the stream to each
 * server, and reconnects. Events are per xDS response or stream transition,
 * never per request.
 */
import type { EventEmitter } from 'node:events';
import type { XdsClientEvents, XdsConnectionState } from '../xds/client/ads-client.ts';
import type { EnmeshMetrics } from './mesh-metrics.ts';
import { xdsTypeLabel } from './xds-type-label.ts';

const STATES: readonly XdsConnectionState[] = ['connecting', 'connected', 'disconnected'];

/** Starts counting; returns the function that stops listening. */
export function observeXdsClient(client: EventEmitter<XdsClientEvents>, metrics: EnmeshMetrics, servers: readonly string[] = []): () => void {
  const setState = (server: string, state: XdsConnectionState): void => {
    for (const s of STATES) metrics.xdsConnectionState.set({ server, state: s }, s === state ? 1 : 0);
    metrics.controlPlaneConnected.set({ server }, state === 'connected' ? 1 : 0);
  };
  // Every configured server shows up at once, so an alert can see one that never connected.
  for (const server of servers) setState(server, 'disconnected');

  const onAck = (typeUrl: string, version: string): void => {
    const type = xdsTypeLabel(typeUrl);
    metrics.xdsAcks.inc({ type });
    metrics.setXdsTypeVersion(type, version);
  };
  const onNack = (typeUrl: string): void => {
    metrics.xdsNacks.inc({ type: xdsTypeLabel(typeUrl) });
  };
  const onState = (server: string, state: XdsConnectionState, reconnect: boolean): void => {
    if (reconnect) metrics.xdsReconnects.inc({ server });
    setState(server, state);
  };
  client.on('ack', onAck);
  client.on('nack', onNack);
  client.on('state', onState);
  return () => {
    client.off('ack', onAck);
    client.off('nack', onNack);
    client.off('state', onState);
  };
}
