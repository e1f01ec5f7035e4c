# Scores a request from its status and duration; the weights come from script_params.
def register(params)
  @slow_ms = params.fetch("slow_ms", 500).to_i
  @weights = params["weights"] || {}
end

def filter(event)
  score = 0
  score += @weights.fetch("error", 10).to_i if event.get("[http][status]").to_i >= 500
  score += @weights.fetch("slow", 5).to_i if event.get("duration_ms").to_i > @slow_ms
  event.set("[risk][score]", score)
  [event]
end

test "a slow error" do
  parameters { { "slow_ms" => 100 } }
  in_event { { "http" => { "status" => 503 }, "duration_ms" => 250 } }
  expect("both weights") { |events| events.first.get("[risk][score]") == 15 }
end
