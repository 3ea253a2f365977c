// nodemailer 10.6 as an independent SMTP submission client, for test/interop/bridge/smtp_test.go.
// Reads one JSON object on stdin,
//   {"host", "port", "secure": implicit TLS (else STARTTLS is required), "ca": a PEM file,
//    "servername", "user", "pass", "authMethod": "PLAIN" | "LOGIN",
//    "from", "to", "subject", "text", "envelopeFrom": the MAIL FROM when not from}
// sends one message and prints one JSON line on stdout:
//   {"accepted": [...], "rejected": [...], "response": "250 ..."}
//   or {"error": {"code": "EENVELOPE", "responseCode": 550, "response": "550 5.7.1 ...", "command": "MAIL FROM"}}.
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const o = JSON.parse(input);
const transport = nodemailer.createTransport({
  host: o.host,
  port: o.port,
  secure: o.secure,
  requireTLS: !o.secure,
  tls: { ca: [readFileSync(o.ca)], servername: o.servername },
  auth: { user: o.user, pass: o.pass },
  authMethod: o.authMethod,
  connectionTimeout: 20000,
  greetingTimeout: 20000,
  socketTimeout: 20000,
});
let out;
try {
  const mail = { from: o.from, to: o.to, subject: o.subject, text: o.text };
  if (o.envelopeFrom) mail.envelope = { from: o.envelopeFrom, to: o.to };
  const info = await transport.sendMail(mail);
  out = { accepted: info.accepted, rejected: info.rejected, response: info.response };
} catch (e) {
  out = { error: { code: e.code, responseCode: e.responseCode, response: e.response, command: e.command, message: String(e.message ?? e) } };
}
transport.close();
process.stdout.write(JSON.stringify(out) + '\n');
