/** The bookinfo instances the demo starts, one process each. */
export interface Instance {
  readonly service: string;
  readonly version: string;
  readonly protocol: 'http' | 'grpc';
  /** Under examples/bookinfo/. */
  readonly file: string;
  /** The port it serves its protocol on (ENMESH_PORT), free when the demo starts. */
  port: number;
  /** Where its /healthz and /_stats answer: its own port for HTTP, a second one for gRPC. */
  statsPort: number;
}

export function bookinfoInstances(): Instance[] {
  const make = (service: string, version: string, protocol: 'http' | 'grpc', file: string): Instance => ({
    service,
    version,
    protocol,
    file,
    port: 0,
    statsPort: 0,
  });
  return [
    make('productpage', 'v1', 'http', 'productpage.ts'),
    make('details', 'v1', 'http', 'details.ts'),
    make('reviews', 'v1', 'http', 'reviews.ts'),
    make('reviews', 'v2', 'http', 'reviews.ts'),
    make('ratings', 'v1', 'grpc', 'ratings.ts'),
  ];
}

export const label = (i: Instance): string => `${i.service}-${i.version}`;
export const address = (i: Instance): string => `127.0.0.1:${i.port}`;
