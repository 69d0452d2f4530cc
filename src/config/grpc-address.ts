// FILESTORE_GRPC_ADDR: host:port, the host a name, an IPv4 address or an IPv6 address in brackets.

export interface GrpcAddress {
  host: string;
  port: number;
}

export const GRPC_ADDRESS_ACCEPTED = 'host:port with a port from 0 to 65535 (IPv6 in brackets, e.g. [::1]:50051)';

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export function parseGrpcAddress(raw: string): GrpcAddress | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port <= 65535 ? { host: m[1], port } : undefined;
}
