/** `Listener` → {@link DecodedListener}: an API listener whose HttpConnectionManager uses RDS over ADS. */
import type { AuthenticationPolicyModel, AuthorizationPolicyModel, MeshSettings, MtlsMode, Protocol } from '../../model/types.ts';
import { readEnmeshMetadata } from '../metadata.ts';
import { decodeMessage } from '../protos.ts';
import { FAULT_FILTER, HTTP_CONNECTION_MANAGER, JWT_AUTHN_FILTER, RBAC_FILTER, ROUTER_FILTER } from '../type-urls.ts';
import { decodeJwtAuthnFilter, decodeRbacFilter } from './security-filters.ts';
import { invalid, METADATA_PATH, metaNumber, metaObject, metaString, port, type Obj, type Where } from './fields.ts';
import type { DecodedListener } from './types.ts';

/**
 * HTTP filters this client applies. A filter it does not know must not be
 * silently skipped (it may be an authorization filter), unless marked optional.
 */
const KNOWN_HTTP_FILTERS: ReadonlySet<string> = new Set([FAULT_FILTER, ROUTER_FILTER, RBAC_FILTER, JWT_AUTHN_FILTER]);

const PROTOCOLS: ReadonlySet<string> = new Set(['http', 'grpc']);
const MTLS_MODES: ReadonlySet<string> = new Set(['disabled', 'permissive', 'strict']);

export function decodeListener(msg: Obj, where: Where): DecodedListener {
  const api = msg.api_listener?.api_listener as Obj | undefined;
  if (api === undefined) invalid(where, 'api_listener', 'missing (enmesh clients need an API listener holding an HttpConnectionManager)');
  if (api.type_url !== HTTP_CONNECTION_MANAGER) invalid(where, 'api_listener.api_listener.type_url', `unsupported type ${String(api.type_url)}`);
  const at = 'api_listener.api_listener';
  let hcm: Obj;
  try {
    hcm = decodeMessage(HTTP_CONNECTION_MANAGER, api.value as Uint8Array);
  } catch (err) {
    invalid(where, at, `cannot decode HttpConnectionManager: ${(err as Error).message}`);
  }
  if (hcm.rds === undefined) {
    invalid(where, `${at}.rds`, hcm.route_config !== undefined ? 'inline route_config is not supported; use rds' : 'missing');
  }
  const source = hcm.rds.config_source as Obj | undefined;
  if (source?.ads === undefined && source?.self === undefined) invalid(where, `${at}.rds.config_source`, 'must be ads or self');
  const routeConfigName = String(hcm.rds.route_config_name ?? '');
  if (routeConfigName === '') invalid(where, `${at}.rds.route_config_name`, 'missing');

  const filters = (hcm.http_filters ?? []) as Obj[];
  const httpFilters: string[] = [];
  const security: { typeUrl: string; value: Uint8Array; path: string }[] = [];
  filters.forEach((f, i) => {
    const path = `${at}.http_filters[${i}]`;
    const typeUrl = f.typed_config?.type_url as string | undefined;
    if (typeUrl === undefined) invalid(where, `${path}.typed_config`, 'missing');
    const isRouter = typeUrl === ROUTER_FILTER;
    if (isRouter !== (i === filters.length - 1)) invalid(where, path, 'the router filter must be the last filter, and only the last');
    if (!KNOWN_HTTP_FILTERS.has(typeUrl)) {
      if (f.is_optional === true) return;
      invalid(where, `${path}.typed_config.type_url`, `unsupported filter ${typeUrl}`);
    }
    httpFilters.push(typeUrl);
    if (typeUrl === RBAC_FILTER || typeUrl === JWT_AUTHN_FILTER) security.push({ typeUrl, value: f.typed_config.value as Uint8Array, path: `${path}.typed_config` });
  });

  const meta = readEnmeshMetadata(msg.metadata);
  const fromName = splitTarget(where.name);
  const service = metaString(meta, 'service', where, METADATA_PATH) ?? fromName.service;
  const metaPort = metaNumber(meta, 'port', where, METADATA_PATH);
  const listenerPort = port(metaPort ?? fromName.port ?? 80, where, metaPort !== undefined ? `${METADATA_PATH}.port` : 'name');
  const protocol = metaString(meta, 'protocol', where, METADATA_PATH) ?? 'http';
  if (!PROTOCOLS.has(protocol)) invalid(where, `${METADATA_PATH}.protocol`, `unsupported value ${protocol} (http or grpc)`);

  const out: DecodedListener = {
    kind: 'listener',
    name: where.name,
    service,
    port: listenerPort,
    protocol: protocol as Protocol,
    routeConfigName,
    httpFilters,
  };
  // Policies of this service, read once its trust domain is known (service sources are SPIFFE IDs in it).
  const withPolicies = (trustDomain: string): DecodedListener => {
    if (security.length === 0) return out;
    const decode = (f: (typeof security)[number]): { authorization?: AuthorizationPolicyModel[]; authentication?: AuthenticationPolicyModel[] } =>
      f.typeUrl === RBAC_FILTER ? { authorization: decodeRbacFilter(f.value, service, trustDomain, where, f.path) } : { authentication: decodeJwtAuthnFilter(f.value, service, where, f.path) };
    const parts = security.map(decode);
    return { ...out, authorization: parts.flatMap((p) => p.authorization ?? []), authentication: parts.flatMap((p) => p.authentication ?? []) };
  };
  const mesh = metaObject(meta, 'mesh', where, METADATA_PATH);
  if (mesh === undefined) return withPolicies('');
  const meshPath = `${METADATA_PATH}.mesh`;
  const mtls = metaString(mesh, 'mtls', where, meshPath) ?? 'permissive';
  if (!MTLS_MODES.has(mtls)) invalid(where, `${meshPath}.mtls`, `unsupported value ${mtls}`);
  const settings: MeshSettings = {
    name: metaString(mesh, 'name', where, meshPath) ?? '',
    trustDomain: metaString(mesh, 'trustDomain', where, meshPath) ?? '',
    mtls: mtls as MtlsMode,
  };
  return { ...withPolicies(settings.trustDomain), mesh: settings };
}

/** `ratings:50051` → service and port; a listener from elsewhere may carry no enmesh metadata. */
function splitTarget(name: string): { service: string; port?: number } {
  const m = /^(.*):([0-9]{1,5})$/.exec(name);
  return m === null ? { service: name } : { service: m[1], port: Number(m[2]) };
}
