import { dropMove, moved } from './reorder';

const phones = ['sip', 'mobile', 'landline', 'fmc'];
const ids = ['10', '11', '12', '13'];

describe('drag to order (the phones of an employee, the rules of a number)', () => {
  it('moves the dragged item to the place of the item it is dropped on, down or up', () => {
    const down = dropMove(ids, '10', '12');
    expect(down).toEqual({ from: 0, to: 2 });
    expect(moved(phones, down ?? { from: 0, to: 0 })).toEqual(['mobile', 'landline', 'sip', 'fmc']);
    const up = dropMove(ids, '13', '11');
    expect(up).toEqual({ from: 3, to: 1 });
    expect(moved(phones, up ?? { from: 0, to: 0 })).toEqual(['sip', 'fmc', 'mobile', 'landline']);
  });

  it('makes the same order as the ↑/↓ buttons (one step is a drop on the neighbour)', () => {
    const step = dropMove(ids, '11', '10');
    expect(step).toEqual({ from: 1, to: 0 });
    expect(moved(phones, { from: 1, to: 0 })).toEqual(['mobile', 'sip', 'landline', 'fmc']);
  });

  it('moves nothing when dropped on itself, outside the list, or on an unknown item', () => {
    expect(dropMove(ids, '12', '12')).toBeNull();
    expect(dropMove(ids, '12', null)).toBeNull();
    expect(dropMove(ids, '12', '99')).toBeNull();
    expect(dropMove(ids, '99', '10')).toBeNull();
  });

  it('keeps every item exactly once', () => {
    for (let from = 0; from < phones.length; from += 1) {
      for (let to = 0; to < phones.length; to += 1) {
        const result = moved(phones, { from, to });
        expect([...result].sort()).toEqual([...phones].sort());
        expect(result[to]).toBe(phones[from]);
      }
    }
  });
});
