import { en } from './en';
import { ru } from './ru';

function leaves(tree: object, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(tree)) {
    if (typeof value === 'string') out.set(prefix + key, value);
    else for (const [k, v] of leaves(value as object, `${prefix}${key}.`)) out.set(k, v);
  }
  return out;
}

describe('translations', () => {
  it('has every Russian string in English and nothing more, none empty', () => {
    const russian = leaves(ru);
    const english = leaves(en);

    expect([...english.keys()].sort()).toEqual([...russian.keys()].sort());
    for (const [key, value] of [...russian, ...english]) expect(value.trim(), key).not.toBe('');
  });

  it('keeps the same interpolations in both languages', () => {
    const english = leaves(en);
    for (const [key, value] of leaves(ru)) {
      const names = (text: string) => [...text.matchAll(/{{(\w+)}}/g)].map((m) => m[1]).sort();
      expect(names(english.get(key) ?? ''), key).toEqual(names(value));
    }
  });
});
