import { describe, expect, it } from 'vitest';
import { splitShellWords } from './shell-words.js';

describe('splitShellWords', () => {
  it.each<[string, string[]]>([
    ['', []],
    ['   ', []],
    ['serve', ['serve']],
    ['serve --port 80', ['serve', '--port', '80']],
    ['  a \t b\n c  ', ['a', 'b', 'c']],
    [`sh -c 'echo hi'`, ['sh', '-c', 'echo hi']],
    [`sh -c "echo hi"`, ['sh', '-c', 'echo hi']],
    [`sh -c 'echo "hi there"'`, ['sh', '-c', 'echo "hi there"']],
    [`sh -c "echo 'hi there'"`, ['sh', '-c', "echo 'hi there'"]],
    // quotes join with what touches them
    [`--name='a b'c`, ['--name=a bc']],
    [`a"b"'c'`, ['abc']],
    // empty quoted words are kept
    [`"" x ''`, ['', 'x', '']],
    // backslash outside quotes escapes any character
    [`a\\ b`, ['a b']],
    [`\\'x`, ["'x"]],
    [`\\\\`, ['\\']],
    // inside double quotes only \" \\ \$ \` are escapes
    [`"a\\"b"`, ['a"b']],
    [`"a\\\\b"`, ['a\\b']],
    [`"a\\$b"`, ['a$b']],
    [`"a\\nb"`, ['a\\nb']],
    // inside single quotes nothing is special
    [`'a\\b'`, ['a\\b']],
    [`'a"b'`, ['a"b']],
    // the classic way to put a single quote in a single-quoted string
    [`'it'"'"'s'`, ["it's"]],
    // no expansion of any kind
    ['echo $HOME ~ *.txt', ['echo', '$HOME', '~', '*.txt']],
    // a trailing backslash is kept
    ['abc\\', ['abc\\']],
  ])('%j', (text, words) => {
    expect(splitShellWords(text)).toEqual(words);
  });

  it.each([`'unterminated`, `"unterminated`, `sh -c 'echo`, `a "b\\"`, `it'"'"'s`])(
    'returns undefined for %j',
    (text) => {
      expect(splitShellWords(text)).toBeUndefined();
    },
  );
});
