// Prints a demo token: node dist/demo/mint-token.js <userId> [role ...] (signed with JWT_SECRET, or the development secret).
import { SignJWT } from 'jose';
import { DEVELOPMENT_JWT_SECRET } from './demo.config.js';

const [userId, ...roles] = process.argv.slice(2);
if (!userId) {
  console.error('usage: npm run token -- <userId> [role ...]');
  process.exit(2);
}
const secret = new TextEncoder().encode(process.env.JWT_SECRET || DEVELOPMENT_JWT_SECRET);
const token = await new SignJWT({ roles })
  .setProtectedHeader({ alg: 'HS256' })
  .setSubject(userId)
  .setIssuedAt()
  .setExpirationTime('1h')
  .sign(secret);
console.log(token);
