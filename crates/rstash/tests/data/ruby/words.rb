# Splits `field` into one event per word; keeps the original unless `keep` is "false"
# (config barewords such as false arrive as strings).
def register(params)
  @field = params["field"]
  @keep = params.fetch("keep", "true").to_s == "true"
  logger.info("words registered", field: @field)
end

def filter(event)
  words = event.get(@field).to_s.split
  event.set("word_count", words.size)
  out = words.map { |w| LogStash::Event.new("word" => w, "from" => event.get("[@metadata][src]")) }
  @keep ? [event] + out : out
end

test "two words" do
  parameters { { "field" => "message" } }
  in_event { { "message" => "hello world" } }
  expect("the original and two words") { |events| events.size == 3 }
  expect("a count") { |events| events.first.get("word_count") == 2 }
end
