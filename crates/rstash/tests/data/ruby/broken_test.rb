def filter(event)
  [event]
end

test "wrong expectation" do
  in_event { { "message" => "x" } }
  expect("no events at all") { |events| events.empty? }
end
