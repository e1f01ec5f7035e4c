# The aggregate filter, in the embedded VM because its `code` works on a Ruby hash (`map`) kept
# per task across events. Semantics follow Logstash's plugin: maps shared by every aggregate
# filter of a pipeline per task_id pattern, map_action, end_of_task, timeouts (only one filter
# per pattern may set them), pushing maps as events, timeout_code, aggregate_maps_path.

module RStash
  class Aggregate
    DEFAULT_TIMEOUT = 1800
    TIMEOUT_OPTIONS = %w[timeout inactivity_timeout timeout_code push_map_as_event_on_timeout
                         push_previous_map_as_event timeout_task_id_field timeout_tags].freeze

    # One task's map and its metadata (the code's `map_meta`; setting `timeout` or
    # `inactivity_timeout` there changes them for this task only).
    Element = Struct.new(:creation_timestamp, :lastevent_timestamp, :map, :task_id, :timeout,
                         :inactivity_timeout)

    # What the aggregate filters of one pipeline build share.
    class Shared
      attr_accessor :maps, :default_timeout, :flusher, :last_flush, :maps_path_owner,
                    :instances, :clock

      def initialize
        @maps = {}
        @default_timeout = nil
        @flusher = {}
        @last_flush = {}
        @maps_path_owner = nil
        @instances = 0
        # With timeout_timestamp_field, time is the events' time: [event time, when it was seen].
        @clock = {}
      end
    end

    SHARED = {}

    attr_reader :timeout, :inactivity_timeout

    def initialize(name, key, o)
      @logger = Logger.new(name)
      @key = key
      @task_id = o["task_id"]
      unless @task_id.match?(/%\{.+\}/)
        raise "Aggregate plugin: task_id pattern '#{@task_id}' must contain a dynamic expression like '%{field}'"
      end
      @map_action = o["map_action"]
      @end_of_task = o["end_of_task"]
      @timeout = o["timeout"]
      @inactivity_timeout = o["inactivity_timeout"]
      @push_map_as_event_on_timeout = o["push_map_as_event_on_timeout"]
      @push_previous_map_as_event = o["push_previous_map_as_event"]
      @timeout_task_id_field = o["timeout_task_id_field"]
      @timeout_tags = o["timeout_tags"] || []
      @timeout_timestamp_field = o["timeout_timestamp_field"]
      @maps_path = o["aggregate_maps_path"]
      @timeout_option_set = o["timeout_options"] || []
      @codeblock = instance_eval("lambda { |event, map, map_meta, &new_event_block| #{o['code']}\n}", "(aggregate filter code)", 1)
      if o["timeout_code"]
        @timeout_codeblock = instance_eval("lambda { |event| #{o['timeout_code']}\n}", "(aggregate filter timeout code)", 1)
      end
      register
    end

    def shared = (SHARED[@key] ||= Shared.new)

    def register
      s = shared
      unless @timeout_option_set.empty?
        if s.flusher.key?(@task_id)
          raise "Aggregate plugin: For task_id pattern '#{@task_id}', there are more than one filter which defines timeout options. All timeout options have to be defined in only one aggregate filter per task_id pattern. Timeout options are : #{TIMEOUT_OPTIONS.join(', ')}"
        end
        s.flusher[@task_id] = self
      end
      s.default_timeout = @timeout if @timeout && (s.default_timeout.nil? || @timeout < s.default_timeout)
      if @inactivity_timeout && ((@timeout && @inactivity_timeout > @timeout) ||
                                 (s.default_timeout && @inactivity_timeout > s.default_timeout))
        raise "Aggregate plugin: For task_id pattern #{@task_id}, inactivity_timeout must be lower than timeout"
      end
      if @maps_path
        raise "Aggregate plugin: Option 'aggregate_maps_path' must be set on only one aggregate filter" if s.maps_path_owner
        s.maps_path_owner = self
        if File.exist?(@maps_path)
          File.open(@maps_path, "rb") { |f| s.maps.merge!(Marshal.load(f)) }
          File.delete(@maps_path)
          @logger.info("Aggregate maps loaded from : #{@maps_path}")
        end
      end
      s.maps[@task_id] ||= {}
      s.instances += 1
    end

    def now(event = nil)
      return Time.now unless @timeout_timestamp_field
      c = shared.clock
      if event
        t = event.get(@timeout_timestamp_field)
        t = t.time if t.respond_to?(:time)
        c[@task_id] = [t, Time.now] if t.is_a?(Time)
      end
      seen = c[@task_id]
      seen ? seen[0] + (Time.now - seen[1]) : Time.now
    end

    # true: the code ran (filter_matched applies); nil: nothing to do or the code failed.
    def __run(event, out)
      task_id = event.sprintf(@task_id)
      return nil if task_id.nil? || task_id == @task_id
      maps = shared.maps[@task_id]
      element = maps[task_id]
      if element.nil?
        return nil if @map_action == "update"
        out << extract_previous_map if @push_previous_map_as_event && !maps.empty?
        t = now(event)
        element = Element.new(t, t, {}, task_id)
        maps[task_id] = element
      else
        return nil if @map_action == "create"
      end
      element.lastevent_timestamp = now(event)
      ok = begin
        @codeblock.call(event, element.map, element) { |e| out << e }
        true
      rescue StandardError => e
        @logger.error("Aggregate exception occurred", error: e.message, map: element.map,
                                                       event_data: event.to_hash_with_metadata)
        event.tag("_aggregateexception")
        nil
      end
      maps.delete(task_id) if @end_of_task
      ok
    end

    def timeout_event(map, task_id)
      e = LogStash::Event.new(map)
      e.set(@timeout_task_id_field, task_id) if @timeout_task_id_field
      @timeout_tags.each { |t| e.tag(t) }
      if @timeout_codeblock
        begin
          @timeout_codeblock.call(e)
        rescue StandardError => ex
          @logger.error("Aggregate exception occurred", error: ex.message,
                        timeout_event_data: e.to_hash_with_metadata)
          e.tag("_aggregateexception")
        end
      end
      e
    end

    def extract_previous_map
      task_id, element = shared.maps[@task_id].shift
      timeout_event(element.map, task_id)
    end

    def __flush(last)
      s = shared
      s.default_timeout ||= DEFAULT_TIMEOUT
      owner = s.flusher[@task_id]
      if owner.nil?
        s.flusher[@task_id] = self
        @timeout = s.default_timeout
        owner = self
      end
      return [] unless owner.equal?(self)
      @timeout ||= s.default_timeout
      @inactivity_timeout ||= @timeout
      due = s.last_flush[@task_id].nil? || Time.now > s.last_flush[@task_id] + @inactivity_timeout / 2.0
      return [] unless due || last
      out = remove_expired
      out << extract_previous_map if last && @push_previous_map_as_event && !s.maps[@task_id].empty?
      out.each { |e| e.tag("_aggregatefinalflush") } if last
      s.last_flush[@task_id] = Time.now
      out
    end

    def remove_expired
      out = []
      t = now
      shared.maps[@task_id].delete_if do |task_id, el|
        expired = el.creation_timestamp < t - (el.timeout || @timeout) ||
                  el.lastevent_timestamp < t - (el.inactivity_timeout || @inactivity_timeout)
        next false unless expired
        out << timeout_event(el.map, task_id) if @push_previous_map_as_event || @push_map_as_event_on_timeout
        true
      end
      out
    end

    def __close
      s = shared
      s.instances -= 1
      return unless s.instances <= 0
      if s.maps_path_owner
        path = s.maps_path_owner.maps_path
        s.maps.delete_if { |_, v| v.empty? }
        unless s.maps.empty?
          File.open(path, "wb") { |f| Marshal.dump(s.maps, f) }
          @logger.info("Aggregate maps stored to : #{path}")
        end
      end
      SHARED.delete(@key)
    end

    def maps_path = @maps_path
  end

  def self.compile_aggregate(name, key, options) = add(Aggregate.new(name, key, options))

  def self.flush(id, last)
    s = SCRIPTS[id]
    s.respond_to?(:__flush) ? s.__flush(last) : []
  end

  def self.close(id)
    s = SCRIPTS[id]
    s.__close if s.respond_to?(:__close)
    SCRIPTS[id] = nil
  end
end
