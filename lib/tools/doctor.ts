import { capabilities } from '../kernel'
export async function doctor(argv: string[]): Promise<number> {
  const caps = capabilities()
  if (argv.includes('--json')) console.log(JSON.stringify(caps, null, 2))
  else console.log(caps)
  return 0
}
