/// <reference types="mocha" />
/**
 * What the worker hands to steps that use the artifact store themselves (Kubernetes pods): the
 * store's location as plain env (artifactStoreEnv), its keys apart (artifactStoreCredentialEnv), so
 * that the executor can put them into a Secret instead of the Job spec.
 */
import { expect } from 'chai';
import { artifactStoreCredentialEnv, artifactStoreEnv, loadConfig } from '../../worker/config.js';

const KEYS = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret-value' };

describe('worker config: the artifact store for step pods', () => {
  it('S3: location, endpoint and region as env; the keys only in the credential env', () => {
    const env = {
      UPDRAFT_ARTIFACT_STORE: 's3://ml-bucket/team/a',
      UPDRAFT_S3_ENDPOINT: 'http://127.0.0.1:9000',
      AWS_REGION: 'eu-west-1',
      ...KEYS,
      AWS_SESSION_TOKEN: 'token',
    };
    const ml = loadConfig(env, '/tmp').ml;
    expect(artifactStoreEnv(ml)).to.deep.equal({
      UPDRAFT_ARTIFACT_STORE: 's3://ml-bucket/team/a',
      AWS_REGION: 'eu-west-1',
      UPDRAFT_S3_ENDPOINT: 'http://127.0.0.1:9000',
    });
    expect(artifactStoreCredentialEnv(ml, env)).to.deep.equal({ ...KEYS, AWS_SESSION_TOKEN: 'token' });
  });

  it('gives no keys for a local store, or for S3 without explicit keys (the SDK default chain)', () => {
    const local = loadConfig({ UPDRAFT_HOME: '/srv/updraft' }, '/tmp').ml;
    expect(artifactStoreEnv(local)).to.deep.equal({ UPDRAFT_ARTIFACT_STORE: 'file:///srv/updraft/artifacts' });
    expect(artifactStoreCredentialEnv(local, KEYS)).to.deep.equal({});
    const s3 = loadConfig({ UPDRAFT_ARTIFACT_STORE: 's3://ml-bucket' }, '/tmp').ml;
    expect(artifactStoreCredentialEnv(s3, {})).to.deep.equal({});
    expect(artifactStoreCredentialEnv(s3, { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE' })).to.deep.equal({});
  });
});
