/**
 * The admin API's answers as the operator commands read them (docs/admin-api.md):
 * the control plane's own view types where it exports them.
 */

export interface HealthView {
  readonly status: string;
  readonly modelVersion: string | null;
  readonly configVersion: string | null;
}

export interface EndpointView {
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly weight: number;
  readonly zone: string;
  readonly healthy: boolean;
  readonly origin: string;
  /** Drained by an operator: listed, but given no new requests. */
  readonly draining?: boolean;
}

export interface ServiceView {
  readonly name: string;
  readonly protocol: string;
  readonly port: number;
  readonly loadBalancer: string;
  readonly subsets: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly routes: readonly string[];
  readonly endpoints: readonly EndpointView[];
}

export interface ServicesView {
  readonly modelVersion: string | null;
  readonly services: readonly ServiceView[];
}

export type { ClientView } from '../control-plane/client-registry.ts';
export type { LoadView, ServiceLoadView } from '../control-plane/lrs/aggregator.ts';
export type { CanaryHistoryEntry, CanaryView } from '../control-plane/canary/controller.ts';
