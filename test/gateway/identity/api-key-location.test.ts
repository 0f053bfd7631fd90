/**
 * Where a request's API key is found, and when it is refused before any
 * lookup: one row per case.
 */
import test from 'ava';
import { findApiKey, type ApiKeyLocations } from '../../../gateway/identity/api-key-location.js';
import { generateApiKey, type ApiKeyErrorCode } from '../../../gateway/identity/api-key.js';
import { checkInput } from '../../helpers/check-input.js';

const key = generateApiKey().key;
const other = generateApiKey().key;
const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';

const headers: ApiKeyLocations = {
  headers: [
    { name: 'x-api-key', prefix: '' },
    { name: 'authorization', prefix: 'ApiKey ' },
  ],
};
const bearer: ApiKeyLocations = { headers: [{ name: 'authorization', prefix: 'Bearer ' }] };
const withQuery: ApiKeyLocations = { ...headers, queryParameter: 'api_key' };

interface Row {
  readonly name: string;
  readonly where: ApiKeyLocations;
  readonly headers?: Record<string, string>;
  readonly query?: string;
  /** The key found and where, `none`, or the refusal code. */
  readonly expect: { key: string; at: string } | 'none' | ApiKeyErrorCode;
}

const rows: Row[] = [
  { name: 'x-api-key', where: headers, headers: { 'x-api-key': key }, expect: { key, at: 'x-api-key' } },
  {
    name: 'authorization with the ApiKey scheme',
    where: headers,
    headers: { authorization: `ApiKey ${key}` },
    expect: { key, at: 'authorization' },
  },
  {
    name: 'the scheme compared case-insensitively',
    where: headers,
    headers: { authorization: `apikey ${key}` },
    expect: { key, at: 'authorization' },
  },
  { name: 'authorization with another scheme is not ours', where: headers, headers: { authorization: `Bearer ${jwt}` }, expect: 'none' },
  { name: 'no key at all', where: headers, headers: { accept: 'application/json' }, expect: 'none' },
  {
    name: 'the same key in two places',
    where: headers,
    headers: { 'x-api-key': key, authorization: `ApiKey ${key}` },
    expect: { key, at: 'x-api-key' },
  },
  {
    name: 'two different keys',
    where: headers,
    headers: { 'x-api-key': key, authorization: `ApiKey ${other}` },
    expect: 'APIKEY_AMBIGUOUS',
  },
  { name: 'a repeated header with two keys', where: headers, headers: { 'x-api-key': `${key}, ${other}` }, expect: 'APIKEY_AMBIGUOUS' },
  {
    name: 'garbage in the key header is still a key (to be refused as malformed)',
    where: headers,
    headers: { 'x-api-key': 'hunter2' },
    expect: { key: 'hunter2', at: 'x-api-key' },
  },
  { name: 'an oversized value', where: headers, headers: { 'x-api-key': 'x'.repeat(10_000) }, expect: 'APIKEY_MALFORMED' },
  {
    name: 'Bearer: a Gatehouse key is ours',
    where: bearer,
    headers: { authorization: `Bearer ${key}` },
    expect: { key, at: 'authorization' },
  },
  { name: 'Bearer: a JWT is left to the token stage', where: bearer, headers: { authorization: `Bearer ${jwt}` }, expect: 'none' },
  { name: 'a key in the query, not allowed', where: headers, query: `due=24h&api_key=${key}`, expect: 'APIKEY_IN_QUERY' },
  { name: 'a key in any query parameter, not allowed', where: headers, query: `k=${key}`, expect: 'APIKEY_IN_QUERY' },
  {
    name: 'a key in the query beside one in a header: still refused',
    where: headers,
    headers: { 'x-api-key': key },
    query: `api_key=${key}`,
    expect: 'APIKEY_IN_QUERY',
  },
  { name: 'the allowed query parameter', where: withQuery, query: `due=24h&api_key=${key}`, expect: { key, at: 'api_key' } },
  {
    name: 'the allowed parameter, percent-encoded',
    where: withQuery,
    query: `api_key=${key.replace(/_/g, '%5F')}`,
    expect: { key, at: 'api_key' },
  },
  { name: 'another parameter while one is allowed', where: withQuery, query: `token=${key}`, expect: 'APIKEY_IN_QUERY' },
  {
    name: 'the allowed parameter and a header with different keys',
    where: withQuery,
    headers: { 'x-api-key': other },
    query: `api_key=${key}`,
    expect: 'APIKEY_AMBIGUOUS',
  },
  { name: 'a query that only mentions the prefix in a name', where: headers, query: 'ghk_=1', expect: 'none' },
];

for (const row of rows) {
  test(row.name, (t) => {
    const input = checkInput({ headers: row.headers ?? {}, query: row.query ?? '' });
    const found = findApiKey(input.request, row.where);
    if (row.expect === 'none') return t.deepEqual(found, { found: false });
    if (typeof row.expect === 'string') {
      t.false(found.found);
      if (!found.found) t.is(found.error, row.expect);
      t.false(JSON.stringify(found).includes(key), 'a refusal never quotes the key');
      return;
    }
    t.true(found.found);
    if (found.found) {
      t.is(found.key, row.expect.key);
      t.is(found.location.name, row.expect.at);
    }
  });
}
