/**
 * The generated mesh.yaml the benchmark serves: `services` services with
 * 5–10 static endpoints each, two or three subsets, a header route and a
 * weighted default route. Deterministic, so two runs serve the same bytes.
 *
 * `edit` selects the weights of the first service's default route: each edit
 * number is a different split, i.e. exactly one RouteConfiguration changes.
 */

export interface MeshOptions {
  readonly services: number;
  /** Route-change number: changes only `svc-000`'s default split. */
  readonly edit: number;
}

export const FIRST_SERVICE = 'svc-000';

export function serviceName(i: number): string {
  return `svc-${String(i).padStart(3, '0')}`;
}

export function servicePort(i: number): number {
  return i % 4 === 3 ? 50051 : 8080;
}

/** Labels a registered (churn) instance of service `i` carries, so it lands in a subset too. */
export function churnLabels(i: number): Record<string, string> {
  return { version: i % 2 === 0 ? 'v1' : 'v2' };
}

export function meshYaml(options: MeshOptions): string {
  const lines: string[] = ['mesh:', '  name: cp-bench', '  trustDomain: bench.local', '  mtls: permissive', 'services:'];
  for (let i = 0; i < options.services; i++) {
    const grpc = i % 4 === 3;
    const three = i % 3 === 0;
    const count = 5 + ((i * 7) % 6);
    lines.push(`  ${serviceName(i)}:`);
    lines.push(`    protocol: ${grpc ? 'grpc' : 'http'}`);
    lines.push(`    port: ${servicePort(i)}`);
    lines.push(`    loadBalancer: ${i % 5 === 0 ? 'least-request' : 'round-robin'}`);
    lines.push('    endpoints:');
    for (let j = 0; j < count; j++) {
      const version = three && j % 3 === 2 ? 'v3' : j % 2 === 0 ? 'v1' : 'v2';
      const zone = j % 2 === 0 ? 'zone-a' : 'zone-b';
      lines.push(`      - { address: "10.${1 + Math.floor(i / 250)}.${i % 250}.${j + 1}:${servicePort(i)}", labels: { version: ${version} }, zone: ${zone} }`);
    }
    lines.push('    subsets:');
    lines.push('      v1: { version: v1 }');
    lines.push('      v2: { version: v2 }');
    if (three) lines.push('      v3: { version: v3 }');
    lines.push('    outlierDetection: { consecutive5xx: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50 }');
    lines.push('    routes:');
    if (grpc) {
      lines.push(`      - name: canary`);
      lines.push(`        match: { method: /bench.Svc${i}/Get, headers: { x-canary: "true" } }`);
      lines.push('        backends: [{ subset: v2 }]');
    } else {
      lines.push(`      - name: canary`);
      lines.push('        match: { path: { prefix: /api }, headers: { x-canary: "true" } }');
      lines.push('        backends: [{ subset: v2 }]');
    }
    const w1 = i === 0 ? 90 - ((options.edit * 10) % 80) : 90;
    lines.push('      - name: default');
    lines.push(`        backends: [{ subset: v1, weight: ${w1} }, { subset: v2, weight: ${100 - w1} }]`);
    lines.push('        timeout: 2s');
    lines.push(`        retries: { attempts: 2, perTryTimeout: 500ms, on: [${grpc ? 'unavailable' : '5xx, reset'}] }`);
  }
  return `${lines.join('\n')}\n`;
}
