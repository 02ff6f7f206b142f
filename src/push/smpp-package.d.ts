/**
 * The part of the `smpp` package (0.5.1, farhadi/node-smpp, CommonJS,
 * untyped) that src/push/smpp.ts and src/sim/ use. Only what we call is
 * declared; field names are the SMPP specification's, as the package uses them.
 *
 * Decoding quirk worth knowing: a received short_message with the UDHI bit in
 * esm_class comes back as `{ udh: [IE, IE, ...], message }` (each IE with its
 * IEI and length octets, the UDHL octet dropped), without UDHI as a Buffer
 * (data_coding 0x04) or a string (text codings).
 */
declare module 'smpp' {
  import type { Socket } from 'node:net';

  namespace smpp {
    interface ShortMessageParts {
      udh?: Buffer[];
      message: Buffer | string;
    }
    type ShortMessage = Buffer | string | ShortMessageParts;

    /** Parameters of the PDUs we build or read (SMPP 3.4 §4). */
    interface PduFields {
      command_status?: number;
      sequence_number?: number;
      system_id?: string;
      password?: string;
      system_type?: string;
      interface_version?: number;
      addr_ton?: number;
      addr_npi?: number;
      address_range?: string;
      service_type?: string;
      source_addr_ton?: number;
      source_addr_npi?: number;
      source_addr?: string;
      dest_addr_ton?: number;
      dest_addr_npi?: number;
      destination_addr?: string;
      esm_class?: number;
      protocol_id?: number;
      priority_flag?: number;
      registered_delivery?: number;
      data_coding?: number;
      short_message?: ShortMessage;
      message_id?: string;
      receipted_message_id?: string;
      message_state?: number;
    }

    type ResponseCallback = (pdu: PDU) => void;

    class PDU {
      constructor(command: string, options?: PduFields);
      /** The operation name, e.g. 'submit_sm', 'submit_sm_resp'; 'unknown' for an unknown command_id. */
      readonly command: string;
      command_id: number;
      command_length: number;
      command_status: number;
      sequence_number: number;
      isResponse(): boolean;
      /** The response PDU for this request (generic_nack for an unknown one). */
      response(options?: PduFields): PDU;
      toBuffer(): Buffer;
      /** Largest command_length accepted when reading (16384 by default). */
      static maxLength: number;
    }
    interface PDU extends Omit<PduFields, 'command_status' | 'sequence_number'> {}

    /** One SMPP connection, client or server side (an EventEmitter at run time). */
    interface Session {
      readonly socket: Socket;
      /** False (and nothing sent) when the socket is not writable. Sets sequence_number of a request. */
      send(pdu: PDU, onResponse?: ResponseCallback, onSent?: ResponseCallback): boolean;
      close(callback?: () => void): void;
      destroy(callback?: () => void): void;
      pause(): void;
      resume(): void;
      on(event: 'connect' | 'close', listener: () => void): this;
      on(event: 'error', listener: (error: Error) => void): this;
      /** 'pdu' for every PDU received, or an operation name ('submit_sm', 'bind_transmitter', ...). */
      on(event: string, listener: (pdu: PDU) => void): this;
      removeAllListeners(): this;
    }

    interface Server {
      readonly sessions: Session[];
      listen(port: number, host: string, callback: () => void): this;
      close(callback?: (error?: Error) => void): this;
      address(): { address: string; family: string; port: number } | string | null;
      on(event: 'session', listener: (session: Session) => void): this;
      on(event: 'error', listener: (error: Error) => void): this;
      once(event: 'error', listener: (error: Error) => void): this;
      off(event: 'error', listener: (error: Error) => void): this;
    }

    function connect(options: { host: string; port: number }): Session;
    function createServer(listener?: (session: Session) => void): Server;
  }

  export = smpp;
}
