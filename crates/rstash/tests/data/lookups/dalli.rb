# The Ruby memcached client Logstash's memcached filter uses (Dalli, Debian's ruby-dalli), on
# the same servers and namespace as rstash: `set` stores values the way Logstash would (marshalled),
# `get` prints what rstash stored as Ruby sees it.
require "dalli"
require "json"

servers, mode, *keys = ARGV
client = Dalli::Client.new(servers.split(","), namespace: "ns")
case mode
when "set"
  20.times do |i|
    client.set("ip:10.0.0.#{i}", { "threat" => "botnet", "score" => i, "ratio" => i / 4.0, "seen" => [true, nil] })
  end
  client.set("ip:plain", "just text")
when "get"
  keys.each { |k| puts JSON.generate([k, client.get(k)]) }
end
