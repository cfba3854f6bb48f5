// What the router reads without a browser: the operator hosts it is given, and the UID2 tokens in a bid
// request's EIDs (OpenRTB user.ext.eids in a JSON body or query value, Prebid's userIdAsEids), and nothing else.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPERATOR_HOSTS, operatorHostsOf, uid2Eids } from '../../harness/page/routing.ts';

const request = (body?: string) => ({ postDataBuffer: () => (body === undefined ? null : Buffer.from(body)) });
const eid = (source: string, ...ids: string[]) => ({ source, uids: ids.map((id) => ({ id, atype: 3 })) });
const token = fc.string({ minLength: 1, maxLength: 40 });

describe('operator hosts', () => {
  it('are the documented UID2 hosts (integration, production, regions) and EUID integration and production', () => {
    expect(DEFAULT_OPERATOR_HOSTS).toEqual(expect.arrayContaining(['operator-integ.uidapi.com', 'prod.uidapi.com', 'global.prod.uidapi.com', 'sg.prod.uidapi.com', 'integ.euid.eu', 'prod.euid.eu']));
  });

  it('are read from repeated options, comma-separated lists and base URLs, lower case, once each', () => {
    expect(operatorHostsOf(['Operator.Staging.Example', 'a.example, b.example', 'https://c.example/v2', 'a.example', ' '])).toEqual(['operator.staging.example', 'a.example', 'b.example', 'c.example']);
  });
});

describe('the UID2 tokens of a bid request', () => {
  it('are every uidapi.com and euid.eu EID id anywhere in a JSON body, once each, and no other source', () => {
    fc.assert(
      fc.property(fc.array(token, { minLength: 1, maxLength: 3 }), token, fc.nat({ max: 3 }), (ids, other, depth) => {
        let user: unknown = { ext: { eids: [eid('uidapi.com', ...ids), eid('id5-sync.com', other), eid('euid.eu', ids[0]!)] } };
        for (let i = 0; i < depth; i++) user = { imp: [{}], wrapped: user };
        const found = uid2Eids(new URL('https://bidder.example/auction'), request(JSON.stringify({ user })));
        expect(new Set(found)).toEqual(new Set(ids));
        expect(found).toHaveLength(new Set(ids).size);
      }),
    );
  });

  it('are read from a query value too; a request without a UID2 EID, or that is no JSON, has none', () => {
    const url = new URL('https://bidder.example/get');
    url.searchParams.set('eids', JSON.stringify([eid('uidapi.com', 'from-the-query')]));
    expect(uid2Eids(url, request())).toEqual(['from-the-query']);
    expect(uid2Eids(new URL('https://bidder.example/'), request(JSON.stringify({ user: { ext: { eids: [eid('id5-sync.com', 'x')] } } })))).toBeUndefined();
    expect(uid2Eids(new URL('https://bidder.example/'), request('source=uidapi.com&id=x'))).toBeUndefined();
    expect(uid2Eids(new URL('https://bidder.example/'), request())).toBeUndefined();
  });
});
