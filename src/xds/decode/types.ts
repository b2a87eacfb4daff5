/**
 * Decoded, validated xDS resources: close to the config model, so assembling
 * a model is joining them, not interpreting xDS again. Each carries a `kind`.
 */
import type {
  AuthenticationPolicyModel,
  AuthorizationPolicyModel,
  AdaptiveConcurrencyModel,
  FaultPolicyModel,
  CircuitBreakerModel,
  ConnectionPoolModel,
  EndpointModel,
  HashOn,
  Labels,
  LoadBalancerKind,
  MeshSettings,
  OutlierDetectionModel,
  Protocol,
  RateLimitModel,
  RetryBudgetModel,
  RouteModel,
} from '../../model/types.ts';

export interface DecodedListener {
  readonly kind: 'listener';
  readonly name: string;
  readonly service: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly routeConfigName: string;
  /** Mesh-wide settings, when the listener carries them. */
  readonly mesh?: MeshSettings;
  /** Type URLs of the HTTP filters, in order (the router last). */
  readonly httpFilters: readonly string[];
  /** Authorization policies of this service, from its RBAC filters. */
  readonly authorization?: readonly AuthorizationPolicyModel[];
  /** Authentication policies of this service, from its jwt_authn filter. */
  readonly authentication?: readonly AuthenticationPolicyModel[];
}

export interface DecodedRoute {
  /** The route; `retries.budget` is provisional until assembly (see `retryBudget`). */
  readonly route: RouteModel;
  /** A budget this route states itself; otherwise its service's cluster budget applies. */
  readonly retryBudget?: RetryBudgetModel;
  /** From the route's hash_policy (a service-level setting in the model). */
  readonly hashOn?: HashOn;
  /** Cluster names this route sends or mirrors to. */
  readonly clusters: readonly string[];
}

export interface DecodedVirtualHost {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly DecodedRoute[];
}

export interface DecodedRouteConfig {
  readonly kind: 'route-config';
  readonly name: string;
  readonly virtualHosts: readonly DecodedVirtualHost[];
}

export interface DecodedCluster {
  readonly kind: 'cluster';
  readonly name: string;
  readonly service: string;
  readonly port: number;
  readonly subset?: string;
  /** The ClusterLoadAssignment name (eds_cluster_config.service_name, or the cluster name). */
  readonly edsServiceName: string;
  readonly loadBalancer: LoadBalancerKind;
  readonly connectionPool?: ConnectionPoolModel;
  readonly outlierDetection?: OutlierDetectionModel;
  readonly rateLimit?: RateLimitModel;
  readonly circuitBreaker?: CircuitBreakerModel;
  readonly adaptiveConcurrency?: AdaptiveConcurrencyModel;
  readonly inboundFault?: FaultPolicyModel;
  readonly retryBudget?: RetryBudgetModel;
  /** A subset cluster's labels. */
  readonly labels?: Labels;
  /** hashOn, when no route could carry it. */
  readonly hashOn?: HashOn;
}

export interface DecodedAssignment {
  readonly kind: 'assignment';
  readonly name: string;
  readonly endpoints: readonly EndpointModel[];
}

export type DecodedValue = DecodedListener | DecodedRouteConfig | DecodedCluster | DecodedAssignment;

export interface DecodedResources {
  readonly listeners: ReadonlyMap<string, DecodedListener>;
  readonly routeConfigs: ReadonlyMap<string, DecodedRouteConfig>;
  readonly clusters: ReadonlyMap<string, DecodedCluster>;
  readonly assignments: ReadonlyMap<string, DecodedAssignment>;
}

/** What assembly accepts: maps of `decodeResource(...).value`, by resource name. */
export interface ResourceMaps {
  readonly listeners: ReadonlyMap<string, unknown>;
  readonly routeConfigs: ReadonlyMap<string, unknown>;
  readonly clusters: ReadonlyMap<string, unknown>;
  readonly assignments: ReadonlyMap<string, unknown>;
}
