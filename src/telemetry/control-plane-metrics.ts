/**
 * The control plane's own metrics: how fast config reaches clients, how many
 * are connected, what they reject, and the load reports coming in. Served on
 * the control plane's metrics endpoint from a registry of its own.
 */
import { Counter, Gauge, Histogram, Registry } from './prom.ts';
import { ISTIO_BUCKETS } from './istio-metrics.ts';

export interface ControlPlaneMetrics {
  readonly registry: Registry;
  /** `enmesh_control_plane_push_latency_milliseconds{type}`: from a snapshot's publication to its ACK by a client. */
  readonly pushLatency: Histogram<'type'>;
  /** `enmesh_control_plane_pushes_total{type}`: responses sent. */
  readonly pushes: Counter<'type'>;
  /** `enmesh_control_plane_connected_clients{kind, profile}`: open ADS streams (kind sotw|delta; profile enmesh|grpc-xds|envoy). */
  readonly connectedClients: Gauge<'kind' | 'profile'>;
  /** `enmesh_control_plane_nacks_total{type}`: responses clients rejected. */
  readonly nacks: Counter<'type'>;
  /** `enmesh_control_plane_xds_streams_paced_total`: new ADS streams refused by the admission pacing (UNAVAILABLE, retried by the client). */
  readonly streamsPaced: Counter;
  /** `enmesh_control_plane_config_errors_total`: mesh file edits refused (invalid, or an inconsistent snapshot). */
  readonly configErrors: Counter;
  /** `enmesh_control_plane_model_info{version}`: 1 for the published model version. */
  readonly modelInfo: Gauge<'version'>;
  /** `enmesh_control_plane_registered_instances{service}`: self-registered instances. */
  readonly registeredInstances: Gauge<'service'>;
  /** `enmesh_control_plane_load_reports_total{client}`: LRS reports received (client: enmesh|grpc-xds|envoy). */
  readonly loadReports: Counter<'client'>;
  /** `enmesh_control_plane_load_report_streams`: open LRS streams. */
  readonly loadReportStreams: Gauge;
  /** Sets {@link modelInfo} to `version` and removes the previous series. */
  setModelVersion(version: string): void;
}

export function createControlPlaneMetrics(registry: Registry = new Registry()): ControlPlaneMetrics {
  const registers = [registry];
  const modelInfo = new Gauge({ name: 'enmesh_control_plane_model_info', help: 'The published model version (value 1).', labelNames: ['version'] as const, registers });
  let shown: string | undefined;
  return {
    registry,
    pushLatency: new Histogram({
      name: 'enmesh_control_plane_push_latency_milliseconds',
      help: 'Time from a snapshot publication to its ACK by a client.',
      labelNames: ['type'] as const,
      buckets: [...ISTIO_BUCKETS],
      registers,
    }),
    pushes: new Counter({ name: 'enmesh_control_plane_pushes_total', help: 'xDS responses sent.', labelNames: ['type'] as const, registers }),
    connectedClients: new Gauge({
      name: 'enmesh_control_plane_connected_clients',
      help: 'Open ADS streams.',
      labelNames: ['kind', 'profile'] as const,
      registers,
    }),
    nacks: new Counter({ name: 'enmesh_control_plane_nacks_total', help: 'xDS responses rejected by clients.', labelNames: ['type'] as const, registers }),
    streamsPaced: new Counter({
      name: 'enmesh_control_plane_xds_streams_paced_total',
      help: 'New ADS streams refused by the admission pacing (clients retry them).',
      registers,
    }),
    configErrors: new Counter({ name: 'enmesh_control_plane_config_errors_total', help: 'Mesh config edits refused.', registers }),
    modelInfo,
    registeredInstances: new Gauge({
      name: 'enmesh_control_plane_registered_instances',
      help: 'Self-registered instances.',
      labelNames: ['service'] as const,
      registers,
    }),
    loadReports: new Counter({ name: 'enmesh_control_plane_load_reports_total', help: 'Load reports received.', labelNames: ['client'] as const, registers }),
    loadReportStreams: new Gauge({ name: 'enmesh_control_plane_load_report_streams', help: 'Open load reporting streams.', registers }),
    setModelVersion(version: string): void {
      if (version === shown) return;
      if (shown !== undefined) modelInfo.remove({ version: shown });
      shown = version;
      modelInfo.set({ version }, 1);
    },
  };
}
