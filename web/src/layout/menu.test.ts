import { menuFor, menuSections, selectedKey } from './menu';

describe('role-aware menu (ACC-2)', () => {
  it('offers the configuration to admins and supervisors, not to employees', () => {
    expect(menuFor('admin').map((e) => e.key).slice(0, 11)).toEqual([
      'home',
      'employees',
      'groups',
      'numbers',
      'scenarios',
      'schedules',
      'calls',
      'live',
      'dashboards',
      'files',
      'configYaml',
    ]);
    expect(menuFor('supervisor').map((e) => e.key)).not.toContain('configYaml');
    expect(menuFor('supervisor').map((e) => e.key)).toContain('employees');
    expect(menuFor('employee').map((e) => e.key)).toEqual(['home', 'myCalls', 'myLive', 'voicemail', 'myDashboards']);
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

describe('the side menu in sections', () => {
  it('puts every entry of the role in exactly one section, in the sections’ order', () => {
    const groups = menuSections('admin');
    expect(groups.map((group) => group.section)).toEqual(['main', 'calls', 'routing', 'staff', 'clients', 'account']);
    const shown = groups.flatMap((group) => group.entries.map((entry) => entry.key));
    expect([...shown].sort()).toEqual(menuFor('admin').map((entry) => entry.key).sort());
    expect(groups.find((group) => group.section === 'routing')?.entries.map((entry) => entry.key)).toEqual(
      expect.arrayContaining(['numbers', 'scenarios', 'schedules']),
    );
    // no section is a column of its own: the largest has at most 8 entries
    expect(Math.max(...groups.map((group) => group.entries.length))).toBeLessThanOrEqual(8);
  });

  it('leaves out the sections a role has nothing in', () => {
    expect(menuSections('employee').map((group) => group.section)).toEqual(['main', 'calls']);
  });
});
