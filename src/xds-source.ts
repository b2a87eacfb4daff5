/**
 * Control-plane mode: an xDS client feeds the mesh its model, registers this
 * instance when it serves a port, and makes `xds:///service` gRPC targets work
 * in this process. Loaded only in control-plane mode (it pulls in gRPC).
 */
import { randomUUID } from 'node:crypto';
import type { Mesh } from './mesh.ts';
import type { InitOptions } from './init-options.ts';
import { TLS_MODE_LABEL, TLS_MODE_MTLS } from './security/mesh-mtls.ts';

export async function startXdsSource(mesh: Mesh, addresses: readonly string[], options: InitOptions): Promise<void> {
  const [{ XdsClient }, { registerGrpcXds }, { parseControlPlaneServers }, { LoadReportClient, policyReportOf }, { buildNode }, { observeXdsClient }] = await Promise.all([
    import('./xds/client/ads-client.ts'),
    import('./xds/grpc-bootstrap.ts'),
    import('./xds/client/env.ts'),
    import('./telemetry/load-reporter.ts'),
    import('./xds/client/node.ts'),
    import('./telemetry/xds-client-metrics.ts'),
  ]);
  const servers = parseControlPlaneServers(addresses.join(','), 'controlPlane');
  const svc = options.service;
  const nodeId = `${svc?.name ?? 'client'}~${process.pid}~${randomUUID().slice(0, 8)}`;
  const zone = svc?.zone ?? '';
  // An instance with a workload identity serves mTLS: permissive callers dial it with mTLS too.
  const security = mesh.security();
  const mtlsLabel: Record<string, string> = security.configured ? { [TLS_MODE_LABEL]: TLS_MODE_MTLS } : {};
  const certificateProviders = security.grpcCertificateProviders();
  const client = new XdsClient({
    servers,
    mode: options.xdsMode ?? 'delta',
    node: { id: nodeId, cluster: svc?.name ?? '', zone },
    // An instance that registers in Consul (options.consul) is not registered here as well.
    ...(svc?.port !== undefined && options.consul === undefined
      ? { registration: { service: svc.name, host: svc.host ?? '127.0.0.1', port: svc.port, labels: { ...(svc.labels ?? {}), ...mtlsLabel }, zone } }
      : {}),
  });
  const enmeshMetrics = mesh.telemetry()?.metrics.enmesh;
  if (enmeshMetrics !== undefined) observeXdsClient(client, enmeshMetrics, servers);
  client.on('model', (model) => {
    mesh.applyModel(model);
    // The version in force: a model the data plane could not compile leaves the previous one shown.
    if (mesh.config()?.version === model.version) enmeshMetrics?.setXdsConfigVersion(model.version);
  });
  client.on('warning', (err) => mesh.reportError(err));
  mesh.onClose(() => client.close());
  if (options.hooks?.grpc !== false) {
    // grpc-js-xds (1.14) uses the first server of its bootstrap only: start the list at a random
    // replica, so that a fleet's gRPC channels spread over the replicas as its ADS streams do.
    const first = Math.floor(Math.random() * servers.length);
    const { bootstrap } = registerGrpcXds({ servers: [...servers.slice(first), ...servers.slice(0, first)], nodeId: `${nodeId}~grpc`, zone, ...(certificateProviders !== undefined ? { certificateProviders } : {}) });
    // With a bootstrap of the user's own, grpc-js-xds asks another control plane: names are left as they are.
    if (bootstrap === 'enmesh') mesh.routeGrpcTargets();
  }
  client.start();

  // Load reports (LRS) to the control plane: per cluster and locality, for its live per-service view.
  const store = mesh.telemetry()?.load;
  if (store !== undefined) {
    mesh.enableLoadReporting();
    const node = buildNode({ id: nodeId, cluster: svc?.name ?? '', user_agent_name: 'enmesh', zone }, undefined, false);
    let lrs: InstanceType<typeof LoadReportClient> | undefined;
    let lrsServer: string | undefined;
    // Reports go to the replica the ADS stream is on (not always the first listed), and follow it on failover.
    const reportTo = (server: string): void => {
      if (server === lrsServer) return;
      void lrs?.close();
      lrsServer = server;
      lrs = new LoadReportClient({
        server,
        node,
        store,
        // Open breakers and ejected endpoints go with each report (the control plane's /api/v1/policy-state).
        policies: () => policyReportOf(mesh.policies(), mesh.config()),
      });
      // Control-plane trouble is already reported by the ADS stream; a lost report is not worth a second warning.
      lrs.on('warning', () => {});
      lrs.start();
    };
    client.on('connected', reportTo);
    mesh.onClose(() => {
      client.off('connected', reportTo);
      return lrs?.close();
    });
  }
}
