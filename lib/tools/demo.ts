export async function demo(_argv: string[]): Promise<number> {
  console.log('demo: not yet')
  return 0
}
