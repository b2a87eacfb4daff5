/** Type URLs of the xDS v3 resources and extensions enmesh produces and consumes. */
const P = 'type.googleapis.com/';

export const LISTENER = `${P}envoy.config.listener.v3.Listener`;
export const ROUTE_CONFIGURATION = `${P}envoy.config.route.v3.RouteConfiguration`;
export const CLUSTER = `${P}envoy.config.cluster.v3.Cluster`;
export const CLUSTER_LOAD_ASSIGNMENT = `${P}envoy.config.endpoint.v3.ClusterLoadAssignment`;
export const HTTP_CONNECTION_MANAGER = `${P}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
export const ROUTER_FILTER = `${P}envoy.extensions.filters.http.router.v3.Router`;
export const FAULT_FILTER = `${P}envoy.extensions.filters.http.fault.v3.HTTPFault`;
export const RBAC_FILTER = `${P}envoy.extensions.filters.http.rbac.v3.RBAC`;
export const RBAC_PER_ROUTE = `${P}envoy.extensions.filters.http.rbac.v3.RBACPerRoute`;
export const LOCAL_RATE_LIMIT_FILTER = `${P}envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit`;
export const JWT_AUTHN_FILTER = `${P}envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication`;
export const UPSTREAM_TLS_CONTEXT = `${P}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`;
export const DOWNSTREAM_TLS_CONTEXT = `${P}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`;

/** The four resource types of ADS, in the order a client should subscribe (and a server should push). */
export const ADS_TYPE_ORDER: readonly string[] = [CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION];
