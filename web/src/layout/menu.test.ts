import { menuFor, selectedKey } from './menu';

describe('role-aware menu (ACC-2)', () => {
  it('offers the configuration to admins and supervisors, not to employees', () => {
    expect(menuFor('admin').map((e) => e.key).slice(0, 9)).toEqual([
      'home',
      'employees',
      'groups',
      'numbers',
      'scenarios',
      'schedules',
      'calls',
      'files',
      'configYaml',
    ]);
    expect(menuFor('supervisor').map((e) => e.key)).not.toContain('configYaml');
    expect(menuFor('supervisor').map((e) => e.key)).toContain('employees');
    expect(menuFor('employee').map((e) => e.key)).toEqual(['home', 'myCalls', 'voicemail']);
    expect(menuFor('operator').map((e) => e.key)).toContain('employees');
    // the other screens (resources/menu.ts): users and roles for admins only
    expect(menuFor('admin').map((e) => e.key)).toEqual(expect.arrayContaining(['contacts', 'trunks', 'users', 'account']));
    expect(menuFor('supervisor').map((e) => e.key)).not.toContain('users');
    expect(menuFor('employee').map((e) => e.key)).not.toContain('contacts');
  });

  it('marks the entry of a nested page', () => {
    const entries = menuFor('admin');

    expect(selectedKey(entries, '/employees/12')).toBe('employees');
    expect(selectedKey(entries, '/')).toBe('home');
    expect(selectedKey(entries, '/nowhere')).toBeUndefined();
  });
});
