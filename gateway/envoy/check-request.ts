/**
 * The shape of `envoy.service.auth.v3.CheckRequest` as @grpc/proto-loader
 * hands it over (keepCase, oneofs, no defaults). Only the fields Gatehouse
 * reads are typed; everything is optional because the wire may omit anything.
 */

export interface RawSocketAddress {
  address?: string;
  port_value?: number;
}

export interface RawAddress {
  socket_address?: RawSocketAddress;
  pipe?: { path?: string };
}

export interface RawPeer {
  address?: RawAddress;
  service?: string;
  labels?: Record<string, string>;
  principal?: string;
  certificate?: string;
}

export interface RawHeaderValue {
  key?: string;
  value?: string;
  raw_value?: Buffer | Uint8Array;
}

export interface RawHttpRequest {
  id?: string;
  method?: string;
  headers?: Record<string, string>;
  header_map?: { headers?: RawHeaderValue[] };
  path?: string;
  host?: string;
  scheme?: string;
  query?: string;
  fragment?: string;
  protocol?: string;
}

export interface RawAttributeContext {
  source?: RawPeer;
  destination?: RawPeer;
  request?: { http?: RawHttpRequest };
  context_extensions?: Record<string, string>;
  tls_session?: { sni?: string };
}

export interface RawCheckRequest {
  attributes?: RawAttributeContext;
}
