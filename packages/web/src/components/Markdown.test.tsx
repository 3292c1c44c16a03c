// @vitest-environment jsdom
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { Markdown } from './Markdown';

afterEach(cleanup);

describe('Markdown', () => {
  it('renders headings, lists, tables and inline code as elements', () => {
    const md = [
      '# Model card: m v1',
      '',
      'Generated **today** with `gbdt`.',
      '',
      '- one',
      '- two',
      '',
      '| metric | value |',
      '|---|---|',
      '| AUC | 0.66 |',
    ].join('\n');
    const { container } = render(<Markdown source={md} />);
    expect(screen.getByRole('heading', { level: 2, name: 'Model card: m v1' })).toBeTruthy();
    expect(container.querySelector('strong')?.textContent).toBe('today');
    expect(container.querySelector('code')?.textContent).toBe('gbdt');
    expect(screen.getAllByRole('listitem').map((li) => li.textContent)).toEqual(['one', 'two']);
    expect(screen.getByRole('cell', { name: '0.66' })).toBeTruthy();
    expect(screen.getByRole('columnheader', { name: 'metric' })).toBeTruthy();
  });

  it('never injects markup: HTML stays text and only http(s) links become links', () => {
    const md = [
      '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>',
      '',
      '[bad](javascript:alert(1)) and [good](https://example.org/x)',
      '| a |',
      'a stray | line',
    ].join('\n');
    const { container } = render(<Markdown source={md} />);
    expect(container.querySelector('img')).toBeNull();
    expect(container.querySelector('script')).toBeNull();
    expect(container.textContent).toContain('<script>window.pwned=1</script>');
    const links = [...container.querySelectorAll('a')];
    expect(links.map((a) => a.getAttribute('href'))).toEqual(['https://example.org/x']);
    expect(container.textContent).toContain('[bad](javascript:alert(1))');
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
  });
});
