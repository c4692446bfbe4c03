/** The real @aws-sdk/client-ec2 pointed at a local EC2 endpoint (local/ec2/ec2-endpoint.ts), one attempt a call. */
import { EC2Client } from "@aws-sdk/client-ec2";

export function localEc2Client(url: string): EC2Client {
  return new EC2Client({
    endpoint: url,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
}
