/** mesh.yaml text for the `reviews` service the control-plane-mode tests drive. */

export interface ReviewsOptions {
  /** Static endpoints, by version label; none: instances register themselves. */
  readonly endpoints?: Readonly<Record<string, string>>;
  /** Weights of the default route's split between subsets v1 and v2; none: one default route to all endpoints. */
  readonly split?: readonly [number, number];
  /** A route sending `x-canary: "true"` to v2 (needs `split`). */
  readonly canary?: boolean;
  /** Retries on the default route. */
  readonly retries?: boolean;
  /** Other services, appended as YAML under `services:` (indented by four spaces). */
  readonly extra?: string;
}

export function reviewsYaml(o: ReviewsOptions): string {
  const lines = ['mesh:', '  name: e2e', 'services:', '  reviews:', '    protocol: http', '    port: 9080'];
  const eps = Object.entries(o.endpoints ?? {});
  if (eps.length > 0) {
    lines.push('    endpoints:');
    for (const [version, address] of eps) lines.push(`      - { address: "${address}", labels: { version: ${version} } }`);
  }
  lines.push('    subsets:', '      v1: { version: v1 }', '      v2: { version: v2 }');
  const retries = o.retries === true ? '        retries: { attempts: 3, perTryTimeout: 2s, on: [5xx, reset, connect-failure] }' : undefined;
  if (o.split !== undefined || retries !== undefined || o.canary === true) {
    lines.push('    routes:');
    if (o.canary === true) {
      lines.push('      - name: canary', '        match: { headers: { x-canary: "true" } }', '        backends: [{ subset: v2 }]');
    }
    lines.push('      - name: default');
    if (o.split !== undefined) lines.push(`        backends: [{ subset: v1, weight: ${o.split[0]} }, { subset: v2, weight: ${o.split[1]} }]`);
    if (retries !== undefined) lines.push(retries);
  }
  if (o.extra !== undefined) lines.push(o.extra.replace(/\n+$/, ''));
  return `${lines.join('\n')}\n`;
}
