import { describe, expect, it } from 'vitest';
import { ScramClient } from '../../src/adapters/kafka/scram.js';

// RFC 7677, section 3: SCRAM-SHA-256 for user "user", password "pencil".
describe('ScramClient', () => {
  const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';

  it('computes the RFC 7677 client proof and accepts its server signature', () => {
    const c = new ScramClient('sha256', 'user', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
    expect(c.first()).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    expect(c.final(serverFirst)).toBe('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    expect(() => c.verify('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).not.toThrow();
  });

  it('refuses a server that does not know the password, and a nonce it did not extend', () => {
    const c = new ScramClient('sha256', 'user', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
    c.final(serverFirst);
    expect(() => c.verify('v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')).toThrow(/signature does not match/);
    expect(() => c.verify('e=invalid-proof')).toThrow(/refused: invalid-proof/);
    const d = new ScramClient('sha256', 'user', 'pencil', 'mynonce');
    expect(() => d.final('r=othernonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')).toThrow(/nonce/);
    expect(() => d.final('r=mynonceX,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2147483647')).toThrow(/outside 4096-16384/);
  });

  it('escapes = and , in the user name', () => {
    expect(new ScramClient('sha512', 'a=b,c', 'x', 'n').first()).toBe('n,,n=a=3Db=2Cc,r=n');
  });
});
