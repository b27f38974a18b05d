// JWT as the Rust binding (@node-rs/jsonwebtoken) and its node:crypto fallback take it.

export type JwtAlgorithm = 'HS256' | 'RS256' | 'EdDSA';

export interface JwtHeader {
  algorithm?: JwtAlgorithm;
  keyId?: string;
}

export interface JwtValidation {
  aud?: string[];
  iss?: string[];
  algorithms?: JwtAlgorithm[];
  leeway?: number;
  validateExp?: boolean;
  validateNbf?: boolean;
  requiredSpecClaims?: string[];
}

export type Claims = Record<string, unknown>;
