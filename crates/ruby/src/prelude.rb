# The Ruby half of rstash's ruby filter, loaded once into the embedded VM. LogStash::Event and
# LogStash::Timestamp are defined in Rust (event.rs); this file adds what is plain Ruby: the
# logger, the watchdog that bounds a snippet's run time, inline and file scripts (with the
# script test DSL of Logstash's ruby filter), and the driver the Rust side calls per event.

module LogStash
  module Filters; end

  class Timestamp
    include Comparable

    def self.now
      at_nanos(Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond))
    end

    def self.at(*args)
      t = Time.at(*args)
      at_nanos(t.to_i * 1_000_000_000 + t.nsec)
    end

    def self.new(time = nil)
      return now if time.nil?
      at_nanos(time.to_i * 1_000_000_000 + time.nsec)
    end

    def <=>(other)
      other.is_a?(Timestamp) ? nanos <=> other.nanos : nil
    end

    def time
      Time.at(nanos / 1_000_000_000, nanos % 1_000_000_000, :nanosecond).utc
    end
    alias_method :to_time, :time

    def to_i = nanos / 1_000_000_000
    def to_f = nanos / 1e9
    def usec = (nanos % 1_000_000_000) / 1000
    def nsec = nanos % 1_000_000_000
    alias_method :to_iso8601, :to_s
    def inspect = to_s
    def to_json(*) = "\"#{self}\""
    def eql?(other) = other.is_a?(Timestamp) && nanos == other.nanos
    def hash = nanos.hash
    def +(secs) = Timestamp.at_nanos(nanos + (secs * 1_000_000_000).to_i)

    def -(other)
      other.is_a?(Timestamp) ? (nanos - other.nanos) / 1e9 : self + -other
    end
  end

  class Event
    def [](_field)
      raise NoMethodError, "Direct event field references (i.e. event['field']) have been disabled in favor of using event get and set methods (e.g. event.get('field')). Please consult the Logstash 5.0 breaking changes documentation for more details."
    end
    def []=(field, _value)
      self[field]
    end
    def to_json(*) = __to_json
    def inspect = "#<LogStash::Event #{to_hash_with_metadata.inspect}>"
  end
end

module RStash
  # Raised into the Ruby thread when a snippet runs past its time limit. An Exception, not a
  # StandardError, so that a snippet's `rescue => e` does not swallow it.
  class TimedOut < Exception; end

  # Logstash's @logger: message plus an optional hash of details, at a level.
  class Logger
    def initialize(name) = @name = name
    %i[trace debug info warn error fatal].each do |level|
      define_method(level) do |message = nil, details = nil|
        text = message.to_s
        text += " #{details.inspect}" if details
        RStash.__log(level.to_s, @name, text)
      end
      define_method(:"#{level}?") { true }
    end
  end

  # One watchdog thread for the whole VM: the per-event deadline is checked every 20 ms.
  class Watchdog
    def initialize
      @lock = Mutex.new
      @deadline = nil
      @main = Thread.current
      @thread = Thread.new do
        loop do
          sleep 0.02
          @lock.synchronize do
            if @deadline && now > @deadline
              limit = @limit
              @deadline = nil
              @main.raise(TimedOut, "the Ruby code ran for more than #{limit} s and was interrupted")
            end
          end
        end
      end
    end

    def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    def guard(limit)
      @lock.synchronize do
        @limit = limit
        @deadline = now + limit
      end
      yield
    ensure
      @lock.synchronize { @deadline = nil }
    end
  end

  # `code` and `init`: evaluated in the plugin's own object, as Logstash evaluates them in the
  # filter instance, so that `@ivars` set in `init` are seen by `code` and `@logger` exists.
  class Inline
    def initialize(name, init, code)
      @logger = Logger.new(name)
      instance_eval(init, "(ruby filter init)", 1) if init
      @__codeblock = instance_eval("lambda { |event, &new_event_block| #{code}\n}", "(ruby filter code)", 1)
    end

    def __run(event, out)
      @__codeblock.call(event) { |e| out << e }
      true
    end
  end

  # A `path` script: its methods live in an execution context of their own.
  class Context
    def initialize(name) = (@__name__ = name; @__logger__ = Logger.new(name))
    def logger = @__logger__
    def register(_params) = nil
    def concurrency(*) = nil
    def to_s = "<ExecutionContext #{@__name__}>"
  end

  class ScriptTest
    def initialize(script, name)
      @name = name
      @context = script.context("Test/#{name}", testing: true)
      @expects = []
      @in_events = nil
    end

    def parameters(&block)
      return @parameters unless block
      @parameters = block.call
      raise ArgumentError, "Test parameters must be a hash in #{@name}!" unless @parameters.is_a?(Hash)
      @context.register(@parameters)
    end

    def in_event(&block)
      return @in_events unless block
      hashes = block.call
      hashes = [hashes] if hashes.is_a?(Hash)
      Array(hashes).each do |h|
        unless h.is_a?(Hash)
          raise ArgumentError, "In event for #{@name} must receive either a hash or an array of hashes! got a '#{h.class}' in #{hashes.inspect}"
        end
      end
      @in_events = Array(hashes).map { |h| LogStash::Event.new(h) }
    end
    alias_method :in_events, :in_event

    def expect(name, &block) = @expects << [name, block]

    def run
      raise "You must declare an `in_event` to run tests!" unless @in_events
      results = @in_events.flat_map { |e| Script.check_results!(@context.filter(e)) }
      @expects.map do |name, block|
        begin
          if block.call(results)
            :passed
          else
            RStash.__log("error", @name, "Test failed: expected #{name}, got #{results.map(&:to_hash_with_metadata).inspect}")
            :failed
          end
        rescue StandardError => e
          RStash.__log("error", @name, "Test errored: #{name}: #{e.class}: #{e.message}")
          :errored
        end
      end
    end
  end

  class Script
    def self.check_results!(results)
      raise "Custom script did not return an array from 'filter'. Only arrays may be returned!" unless results.is_a?(Array)
      results.each do |r|
        next if r.is_a?(LogStash::Event)
        raise "Custom script returned a non event object '#{r.inspect}'! You must an array of events from this function! To drop an event simply return nil."
      end
      results
    end

    def initialize(name, path, params)
      @path = path
      @content = File.read(path)
      @tests = []
      begin
        @main = context(name, testing: false)
        raise "Script does not define a filter! Please ensure that you have defined a filter method!" unless @main.respond_to?(:filter)
      rescue Exception => e
        raise "Error during load of '#{path}': #{e.inspect}"
      end
      begin
        @main.register(params)
      rescue Exception => e
        raise "Error during register of '#{path}': #{e.inspect}"
      end
      outcomes = @tests.flat_map(&:run)
      bad = outcomes.count { |o| o != :passed }
      RStash.__log("info", name, "Test run complete: #{outcomes.count(:passed)} passed, #{outcomes.count(:failed)} failed, #{outcomes.count(:errored)} errored (#{path})") unless outcomes.empty?
      raise "Script '#{path}' had #{bad} failing tests! Check the error log for details." if bad > 0
    end

    def context(name, testing:)
      ctx = Context.new(name)
      script = self
      if testing
        ctx.define_singleton_method(:test) { |*_| nil }
      else
        ctx.define_singleton_method(:test) { |tname, &block| script.add_test(tname, &block) }
      end
      ctx.instance_eval(@content, @path, 1)
      ctx
    end

    def add_test(name, &block)
      t = ScriptTest.new(self, name)
      t.instance_eval(&block)
      @tests << t
    end

    # Returns whether the original event was among the results; the others go to `out`.
    def __run(event, out)
      results = Script.check_results!(@main.filter(event))
      kept = false
      results.each { |r| r.equal?(event) ? kept = true : out << r }
      kept
    end
  end

  SCRIPTS = []
  WATCHDOG = Watchdog.new

  def self.add(script)
    SCRIPTS << script
    SCRIPTS.size - 1
  end

  def self.compile_inline(name, init, code) = add(Inline.new(name, init, code))
  def self.compile_file(name, path, params) = add(Script.new(name, path, params))

  # Runs script `id` on one event: [true (done) / false (drop it) / nil (skipped), new events,
  # error or nil].
  def self.run(id, event, limit)
    out = []
    begin
      status = WATCHDOG.guard(limit) { SCRIPTS[id].__run(event, out) }
      [status, out, nil]
    rescue Exception => e
      [nil, out, describe(e)]
    end
  rescue Exception => e # an interrupt that arrived as the guard ended
    [nil, out, describe(e)]
  end

  # [message, detail for the log]
  def self.describe(e)
    return [e.message, e.message] if e.is_a?(TimedOut)
    where = e.backtrace&.first
    [e.message, "#{e.class}: #{e.message}#{where ? " (#{where})" : ''}"]
  end
end
