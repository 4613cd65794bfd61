// Every daemon or swarm a test starts inherits these: never multicast on the
// machine's real interfaces, never the public DHT.
process.env.SWARMPAD_LAN = '0'
if (!process.env.SWARMPAD_BOOTSTRAP) process.env.SWARMPAD_BOOTSTRAP = '127.0.0.1:1'
