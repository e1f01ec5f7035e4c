def register(params)
end
