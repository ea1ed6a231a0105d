import { describe, expect, it } from 'vitest';
import {
  NoteFormatError,
  SIGNATURE_TYPE_COSIGNATURE_V1,
  cosignatureLine,
  formatCheckpoint,
  formatVerifierKey,
  generateSignerKey,
  isValidCosignature,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  verifierKeyOf,
  verifyNote,
} from '../src/index.ts';

// The example key and note of golang.org/x/mod/sumdb/note's documentation.
const GO_SIGNER = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const GO_VERIFIER = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_TEXT = 'If you think cryptography is the answer to your problem,\nthen you don\'t know what your problem is.\n';
const GO_NOTE = `${GO_TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

describe('signed notes (C2SP signed-note, Go note formats)', () => {
  it('reads Go\'s example keys and writes Go\'s example note byte for byte', () => {
    const signer = parseSignerKey(GO_SIGNER);
    expect(formatVerifierKey(verifierKeyOf(signer))).toBe(GO_VERIFIER);
    expect(signNote(GO_TEXT, signer)).toBe(GO_NOTE);
    expect(verifyNote(GO_NOTE, parseVerifierKey(GO_VERIFIER)).text).toBe(GO_TEXT);
  });

  it('refuses a changed text, a foreign key, a renamed key and malformed notes and keys', () => {
    const key = parseVerifierKey(GO_VERIFIER);
    expect(() => verifyNote(GO_NOTE.replace('answer', 'Answer'), key)).toThrow(NoteFormatError);
    const other = parseSignerKey(generateSignerKey('PeterNeumann'));
    expect(() => verifyNote(signNote(GO_TEXT, other), key)).toThrow(NoteFormatError);
    expect(() => verifyNote(GO_NOTE, verifierKeyOf(other))).toThrow(NoteFormatError);
    for (const bad of ['', GO_TEXT, `${GO_TEXT}\n`, `${GO_TEXT}\n— PeterNeumann !!!\n`, GO_NOTE.slice(0, -1), GO_NOTE.replace('\n', '\r\n')]) {
      expect(() => verifyNote(bad, key)).toThrow(NoteFormatError);
    }
    for (const bad of ['x', 'PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', 'Peter+Neumann+c74f20a3+AR', 'PeterNeumann+c74f20a3+AA==']) {
      expect(() => parseVerifierKey(bad)).toThrow(NoteFormatError);
    }
    expect(() => parseSignerKey(GO_VERIFIER)).toThrow(NoteFormatError);
  });
});

describe('checkpoints and cosignatures (C2SP tlog-checkpoint, tlog-cosignature/v1)', () => {
  const root = Buffer.alloc(32, 7);

  it('formats and parses a checkpoint', () => {
    const text = formatCheckpoint({ origin: 'example.org/log', size: 42, rootHash: root });
    expect(text).toBe(`example.org/log\n42\n${root.toString('base64')}\n`);
    expect(parseCheckpoint(text)).toEqual({ origin: 'example.org/log', size: 42, rootHash: root });
    for (const bad of ['a\n1\n', 'a\n-1\nAAAA\n', `a\n01\n${root.toString('base64')}\n`, `a\n1\n${Buffer.alloc(31).toString('base64')}\n`, `\n1\n${root.toString('base64')}\n`, `a\n99999999999999999\n${root.toString('base64')}\n`]) {
      expect(() => parseCheckpoint(bad)).toThrow(NoteFormatError);
    }
  });

  it('a witness cosignature verifies with its key only, over that checkpoint only', () => {
    const witness = parseSignerKey(generateSignerKey('witness.example', SIGNATURE_TYPE_COSIGNATURE_V1));
    const text = formatCheckpoint({ origin: 'example.org/log', size: 42, rootHash: root });
    const log = parseSignerKey(generateSignerKey('example.org/log'));
    const note = `${signNote(text, log)}${cosignatureLine(text, witness, 1_700_000_000)}\n`;
    const opened = openNote(note);
    expect(opened.signatures).toHaveLength(2);
    expect(isValidCosignature(text, opened.signatures[1]!, verifierKeyOf(witness))).toBe(true);
    expect(isValidCosignature(text, opened.signatures[0]!, verifierKeyOf(witness))).toBe(false);
    const other = formatCheckpoint({ origin: 'example.org/log', size: 43, rootHash: root });
    expect(isValidCosignature(other, opened.signatures[1]!, verifierKeyOf(witness))).toBe(false);
    expect(parseVerifierKey(formatVerifierKey(verifierKeyOf(witness))).type).toBe(SIGNATURE_TYPE_COSIGNATURE_V1);
  });
});
